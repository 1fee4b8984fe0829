"""The IPS types and operations openips answers on the SOAP and POX fronts, as data.

One table drives everything: reading a request's parameter element, writing the return
element in the order of the IPS type, and the XSD inside the served WSDL (``wsdl.py``). The
element names, order and types are interface facts of the IPS API (spec §2, §8, §11);
the tables themselves are openips's own, and hold only what openips implements.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

BASE_NS = "http://www.scene7.com/IpsApi/xsd"
VERSION = re.compile(r"\d{4}-\d{2}-\d{2}(-beta)?")
SIMPLE = {"string": "xsd:string", "int": "xsd:int", "boolean": "xsd:boolean",
          "dateTime": "xsd:dateTime", "double": "xsd:double"}


def namespace_for(version: str | None) -> str:
    return BASE_NS if version is None else f"{BASE_NS}/{version}"


def is_ips_namespace(ns: str | None) -> bool:
    """``http://www.scene7.com/IpsApi/xsd`` or ``…/xsd/<date>[-beta]`` (spec §0.3)."""
    if ns == BASE_NS:
        return True
    return bool(ns and ns.startswith(BASE_NS + "/") and VERSION.fullmatch(ns[len(BASE_NS) + 1:]))


@dataclass(frozen=True)
class F:
    """One element of a sequence: its name, its type (simple or a complex type below), how many."""

    name: str
    type: str = "string"
    min: int = 1
    many: bool = False


def _array(item: str) -> tuple[F, ...]:
    return (F("items", item, 0, True),)


TYPES: dict[str, tuple[F, ...]] = {
    "StringArray": _array("string"),
    "HandleArray": _array("string"),
    "Fault": (F("code", "int"), F("reason")),
    "Company": (F("companyHandle"), F("name"), F("rootPath"), F("expires", "dateTime", 0)),
    "TaskItemProgress": (F("itemName"), F("progress", "double"), F("progressMessage"),
                         F("lastProgressUpdate", "dateTime")),
    "TaskItemProgressArray": _array("TaskItemProgress"),
    "TaskProgress": (F("taskType"), F("taskState"), F("numProcessed", "int"), F("numProcessing", "int"),
                     F("numPending", "int"), F("progress", "double"), F("progressMessage"),
                     F("lastProgressUpdate", "dateTime"), F("taskItemProgressArray", "TaskItemProgressArray")),
    "TaskProgressArray": _array("TaskProgress"),
    # The job-detail element (uploadPostJob) is optional in IPS and not written by openips.
    "ActiveJob": (F("companyHandle"), F("jobHandle"), F("name"), F("originalName"), F("type"), F("state"),
                  F("submitUserEmail"), F("locale", min=0), F("description", min=0), F("serverName"),
                  F("startDate", "dateTime"), F("triggerTime", "dateTime"), F("totalSize", "int"),
                  F("progress", "int"), F("progressMessage"), F("lastProgressUpdate", "dateTime"),
                  F("taskProgressArray", "TaskProgressArray")),
    "ActiveJobArray": _array("ActiveJob"),
    "ScheduledJob": (F("companyHandle"), F("jobHandle"), F("name"), F("originalName"), F("type"),
                     F("submitUserEmail"), F("locale", min=0), F("description", min=0),
                     F("execSchedule", min=0), F("nextFireTime", "dateTime", 0), F("timeZone", min=0),
                     F("triggerState", min=0)),
    "ScheduledJobArray": _array("ScheduledJob"),
    "JobLogDetailAux": (F("logMessage"), F("logType"), F("dateCreated", "dateTime", 0)),
    "JobLogDetailAuxArray": _array("JobLogDetailAux"),
    "JobLogDetail": (F("logMessage"), F("logType"), F("dateCreated", "dateTime"), F("assetName", min=0),
                     F("assetType", min=0), F("assetHandle", min=0), F("auxArray", "JobLogDetailAuxArray", 0)),
    "JobLogDetailArray": _array("JobLogDetail"),
    "JobLog": (F("companyHandle"), F("jobHandle"), F("jobName"), F("originalJobName"), F("submitUserEmail"),
               F("logType"), F("jobSubType"), F("startDate", "dateTime", 0), F("endDate", "dateTime", 0),
               F("description"), F("fileSuccessCount", "int"), F("fileErrorCount", "int"),
               F("fileWarningCount", "int"), F("fileDuplicateCount", "int"), F("fileUpdateCount", "int"),
               F("totalFileCount", "int"), F("transferSuccessCount", "int"), F("transferErrorCount", "int"),
               F("transferWarningCount", "int"), F("fatalError", "boolean"), F("detailTotalRows", "int", 0),
               F("detailArray", "JobLogDetailArray", 0)),
    "JobLogArray": _array("JobLog"),
    "AssetJobLog": (F("jobHandle"), F("jobName"), F("logMessage"), F("logType"), F("submitUserEmail"),
                    F("logDate", "dateTime"), F("auxArray", "JobLogDetailAuxArray", 0)),
    "AssetJobLogArray": _array("AssetJobLog"),
    "Asset": (F("assetHandle"), F("type"), F("name"), F("folder"), F("fileName", min=0),
              F("created", "dateTime", 0), F("lastModified", "dateTime", 0)),
    "AssetArray": _array("Asset"),
    "SystemFieldCondition": (F("field"), F("op"), F("value")),
    "SystemFieldConditionArray": _array("SystemFieldCondition"),
}

# authHeader (spec §2): its children are read in any order, so the XSD uses xsd:all.
AUTH_HEADER: tuple[F, ...] = (
    F("user", min=0), F("password", min=0), F("accessToken", min=0), F("samlResponse", min=0),
    F("locale", min=0), F("appName", min=0), F("appVersion", min=0), F("gzipResponse", "boolean", 0),
    F("faultHttpStatusCode", "int", 0),
)
FAULTS = ("authenticationFault", "authorizationFault", "ipsApiFault")


@dataclass(frozen=True)
class Op:
    param: tuple[F, ...]
    result: tuple[F, ...]
    # A strict operation faults on a parameter openips does not answer instead of ignoring it
    # (a search must not quietly drop a filter).
    strict: bool = False


_JOB = (F("companyHandle"), F("jobHandle"))

OPERATIONS: dict[str, Op] = {
    "checkLogin": Op((F("companyHandle", min=0), F("email"), F("password")), (F("status"),)),
    "getCompanyInfo": Op((F("companyHandle", min=0), F("companyName", min=0)), (F("companyInfo", "Company"),)),
    "getActiveJobs": Op((F("companyHandle", min=0), F("jobHandle", min=0), F("originalName", min=0),
                         F("includeWaitingJobs", "boolean", 0)), (F("jobArray", "ActiveJobArray"),)),
    "getScheduledJobs": Op((F("companyHandle", min=0), F("jobHandle", min=0), F("originalName", min=0)),
                           (F("jobArray", "ScheduledJobArray"),)),
    "getJobLogs": Op((F("companyHandle", min=0), F("userHandle", min=0), F("sortBy", min=0),
                      F("sortDirection", min=0), F("startDate", "dateTime", 0), F("endDate", "dateTime", 0),
                      F("numRows", "int", 0)), (F("jobLogArray", "JobLogArray"),)),
    "getJobLogDetails": Op((F("companyHandle"), F("jobHandle", min=0), F("originalName", min=0),
                            F("logTypeArray", "StringArray", 0), F("recordsPerPage", "int", 0),
                            F("resultsPage", "int", 0), F("sortBy", min=0), F("sortDirection", min=0)),
                           (F("jobLogArray", "JobLogArray"),)),
    "getAssetJobLogs": Op((F("companyHandle"), F("assetHandle")), (F("jobLogArray", "AssetJobLogArray"),)),
    "stopJob": Op(_JOB, ()),
    "pauseJob": Op(_JOB, ()),
    "resumeJob": Op(_JOB, ()),
    "deleteJob": Op(_JOB, ()),
    "getAssets": Op((F("companyHandle"), F("assetHandleArray", "HandleArray")), (F("assetArray", "AssetArray"),)),
    "searchAssets": Op((F("companyHandle"), F("folder", min=0), F("includeSubfolders", "boolean", 0),
                        F("systemFieldConditionArray", "SystemFieldConditionArray", 0),
                        F("assetTypeArray", "StringArray", 0), F("recordsPerPage", "int", 0),
                        F("resultsPage", "int", 0)),
                       (F("totalRows", "int"), F("assetArray", "AssetArray")), strict=True),
}
