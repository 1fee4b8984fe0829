"""Job-log messages in the job's language (spec §8.7: ``logMessage`` is localised).

A log row stores a message id and its parameters next to the English text, and is
rendered in the reader's locale when it is read. A parameter may itself be a message
(``{"id": ..., "params": ...}``), so optional sentences are translated too. Technical
details that come from the image engines (colour and crop decisions, decoder errors)
are parameters, and stay in English in every language.

Languages: English and Korean; any other locale falls back to English, per message.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

DEFAULT_LANGUAGE = "en"

MESSAGES: dict[str, dict[str, str]] = {
    "job.begin": {
        "en": "Upload job {job} started by {email}",
        "ko": "업로드 작업 {job}이(가) {email}에 의해 시작되었습니다",
    },
    "option.not_applied": {
        "en": "Option {option} is accepted and stored, but this version of openips does not apply it yet",
        "ko": "옵션 {option}은(는) 저장되었지만 이 버전의 openips에서는 아직 적용되지 않습니다",
    },
    "file.created": {
        "en": "{path} was processed into IPS as asset {asset} ({summary}){details}",
        "ko": "{path} 파일이 IPS에 자산 {asset}(으)로 처리되었습니다 ({summary}){details}",
    },
    "file.updated": {
        "en": "{path} replaced asset {asset} ({summary}){details}",
        "ko": "{path} 파일이 자산 {asset}을(를) 대체했습니다 ({summary}){details}",
    },
    "file.details": {"en": ". {text}", "ko": ". {text}"},
    "file.warning": {"en": "{path}: {warning}", "ko": "{path}: 경고: {warning}"},
    "file.duplicate": {
        "en": "{path} was skipped: asset {asset} already exists and the job's overwrite option is false",
        "ko": "{path} 파일을 건너뛰었습니다: 자산 {asset}이(가) 이미 있고 작업의 overwrite 옵션이 false입니다",
    },
    "file.rejected": {
        "en": "{path} could not be processed: {reason}.{kept}",
        "ko": "{path} 파일을 처리할 수 없습니다: {reason}.{kept}",
    },
    "file.cancelled": {
        "en": "{path} was not processed: job {job} was stopped by {by} before its processing started.{kept}",
        "ko": "{path} 파일은 처리되지 않았습니다: 처리가 시작되기 전에 {by}(으)로 작업 {job}이(가) 중지되었습니다.{kept}",
    },
    "file.kept": {
        "en": " The file was kept at {location}.",
        "ko": " 파일은 {location}에 보관되었습니다.",
    },
    "file.late_not_kept": {
        "en": " It was not kept: more than {limit} files arrived after the job had ended.",
        "ko": " 작업이 끝난 뒤 {limit}개가 넘는 파일이 도착하여 이 파일은 보관하지 않았습니다.",
    },
    "file.gone": {
        "en": " The uploaded object no longer exists.",
        "ko": " 업로드된 객체가 더 이상 존재하지 않습니다.",
    },
    "archive.extracted": {
        "en": "{path} ({kind} archive) was extracted: {count} files queued for processing{skipped}{refused}{kept}",
        "ko": "{path} ({kind} 압축 파일)의 압축을 풀었습니다: 파일 {count}개를 처리 대기열에 넣었습니다{skipped}{refused}{kept}",
    },
    "archive.skipped": {
        "en": "; {count} macOS metadata entries skipped",
        "ko": "; macOS 메타데이터 항목 {count}개 건너뜀",
    },
    "archive.refused": {
        "en": "; {count} members refused (one row each)",
        "ko": "; 항목 {count}개 거부됨 (항목별 기록 참조)",
    },
    "archive.member_refused": {
        "en": "{member} in {archive} was not extracted: {reason}",
        "ko": "{archive} 안의 {member} 항목은 추출되지 않았습니다: {reason}",
    },
    "postscript.rasterised": {
        "en": "{kind}, rasterised from its embedded TIFF preview: {raster}",
        "ko": "{kind}, 내장된 TIFF 미리 보기에서 래스터화됨: {raster}",
    },
    "postscript.stored": {
        "en": "{kind}, stored without a rendering (postScriptOptions.process None)",
        "ko": "{kind}, 렌더링 없이 저장됨 (postScriptOptions.process None)",
    },
    "postscript.unrasterised": {
        "en": "{kind}, stored, not rasterised",
        "ko": "{kind}, 저장됨, 래스터화되지 않음",
    },
    "postscript.not_rasterised": {
        "en": ("not rasterised: {reason}, and rendering PostScript needs Ghostscript, which this deployment does "
               "not have (an opt-in layer); the {kind} file is stored as a PostScript asset (master only)"),
        "ko": ("래스터화되지 않았습니다: {reason}. PostScript를 렌더링하려면 이 배포에 없는 Ghostscript(선택 계층)가 "
               "필요합니다. {kind} 파일은 PostScript 자산(마스터만)으로 저장되었습니다"),
    },
    "postscript.reason.no_preview": {
        "en": "the file has no embedded TIFF preview",
        "ko": "파일에 내장된 TIFF 미리 보기가 없습니다",
    },
    "postscript.reason.wmf_only": {
        "en": "its only preview is a Windows Metafile (WMF), which openips cannot decode",
        "ko": "미리 보기가 openips가 디코딩할 수 없는 Windows 메타파일(WMF)뿐입니다",
    },
    "postscript.rendered": {
        "en": "{kind}, rendered by {by}: {raster}",
        "ko": "{kind}, {by}(으)로 렌더링됨: {raster}",
    },
    "postscript.ghostscript_failed_preview": {
        "en": ("Ghostscript could not render the PostScript ({reason}); the image was made from the file's embedded "
               "TIFF preview instead"),
        "ko": "Ghostscript가 PostScript를 렌더링하지 못했습니다 ({reason}). 대신 파일에 내장된 TIFF 미리 보기로 이미지를 만들었습니다",
    },
    "postscript.ghostscript_failed_stored": {
        "en": ("not rasterised: Ghostscript could not render the PostScript ({reason}) and the file has no usable "
               "TIFF preview; the {kind} file is stored as a PostScript asset (master only)"),
        "ko": ("래스터화되지 않았습니다: Ghostscript가 PostScript를 렌더링하지 못했고 ({reason}) 사용할 수 있는 TIFF 미리 "
               "보기도 없습니다. {kind} 파일은 PostScript 자산(마스터만)으로 저장되었습니다"),
    },
    "postscript.words_not_extracted": {
        "en": "postScriptOptions.extractSearchWords: not applied ({reason})",
        "ko": "postScriptOptions.extractSearchWords: 적용되지 않았습니다 ({reason})",
    },
    "postscript.reason.no_ghostscript": {
        "en": "extracting words from PostScript needs Ghostscript, which this deployment does not have",
        "ko": "PostScript에서 단어를 추출하려면 이 배포에 없는 Ghostscript가 필요합니다",
    },
    "postscript.reason.ghostscript_failed": {
        "en": "Ghostscript could not run the file",
        "ko": "Ghostscript가 파일을 실행하지 못했습니다",
    },
    "postscript.text_truncated": {
        "en": "postScriptOptions.extractSearchWords: the file's text is longer than {limit} MiB; words were taken "
              "from its first {limit} MiB",
        "ko": "postScriptOptions.extractSearchWords: 파일의 텍스트가 {limit} MiB를 넘습니다. 처음 {limit} MiB에서 단어를 추출했습니다",
    },
    "postscript.words_truncated": {
        "en": ("postScriptOptions.extractSearchWords: more words than an asset keeps; the first {count} unique "
               "words were stored"),
        "ko": "postScriptOptions.extractSearchWords: 자산에 저장할 수 있는 단어 수를 넘었습니다. 처음 고유 단어 {count}개를 저장했습니다",
    },
    "pdf.page_created": {
        "en": "Page {page} of {path} was rendered into asset {asset} ({summary}){details}",
        "ko": "{path}의 {page}페이지가 자산 {asset}(으)로 렌더링되었습니다 ({summary}){details}",
    },
    "pdf.page_updated": {
        "en": "Page {page} of {path} replaced asset {asset} ({summary}){details}",
        "ko": "{path}의 {page}페이지가 자산 {asset}을(를) 대체했습니다 ({summary}){details}",
    },
    "pdf.page_duplicate": {
        "en": "Page {page} of {path} was skipped: asset {asset} already exists and the job's overwrite option is false",
        "ko": "{path}의 {page}페이지를 건너뛰었습니다: 자산 {asset}이(가) 이미 있고 작업의 overwrite 옵션이 false입니다",
    },
    "pdf.page_refused": {
        "en": "Page {page} of {path} was not rendered: {reason}",
        "ko": "{path}의 {page}페이지를 렌더링하지 않았습니다: {reason}",
    },
    "pdf.catalog_created": {
        "en": "Catalog {asset} was created from {path} with {count} pages",
        "ko": "{path}에서 페이지 {count}개로 카탈로그 {asset}을(를) 만들었습니다",
    },
    "pdf.catalog_updated": {
        "en": "Catalog {asset} was updated from {path}: {count} pages",
        "ko": "{path}에서 카탈로그 {asset}을(를) 업데이트했습니다: 페이지 {count}개",
    },
    "pdf.catalog_duplicate": {
        "en": "Catalog {asset} for {path} was not made: the asset exists and the job's overwrite option is false",
        "ko": "{path}의 카탈로그 {asset}을(를) 만들지 않았습니다: 자산이 이미 있고 작업의 overwrite 옵션이 false입니다",
    },
    "pdf.active_content": {
        "en": "{path} contains {found}; it was not run (openips never runs scripts or actions in PDFs)",
        "ko": "{path}에 {found}이(가) 있습니다. 실행하지 않았습니다 (openips는 PDF의 스크립트나 동작을 실행하지 않습니다)",
    },
    "pdf.page_limit": {
        "en": "{path} has {count} pages; only the first {limit} were considered",
        "ko": "{path}에는 {count}페이지가 있으며 처음 {limit}페이지만 처리했습니다",
    },
    "pdf.unreadable_stored": {
        "en": "{path} was stored as it is, but it could not be read: {reason}",
        "ko": "{path} 파일은 그대로 저장되었지만 읽을 수 없습니다: {reason}",
    },
    "pdf.words_truncated": {
        "en": "{path}: more words than an asset keeps; the first {count} unique words were stored",
        "ko": "{path}: 자산에 저장할 수 있는 단어 수를 넘었습니다. 처음 고유 단어 {count}개를 저장했습니다",
    },
    "psd.layer_created": {
        "en": "Layer {number} ('{layer}') of {path} became asset {asset} ({summary}){details}",
        "ko": "{path}의 레이어 {number}('{layer}')이(가) 자산 {asset}이(가) 되었습니다 ({summary}){details}",
    },
    "psd.layer_updated": {
        "en": "Layer {number} ('{layer}') of {path} replaced asset {asset} ({summary}){details}",
        "ko": "{path}의 레이어 {number}('{layer}')이(가) 자산 {asset}을(를) 대체했습니다 ({summary}){details}",
    },
    "psd.layer_duplicate": {
        "en": ("Layer {number} ('{layer}') of {path} was skipped: asset {asset} already exists and the job's "
               "overwrite option is false"),
        "ko": ("{path}의 레이어 {number}('{layer}')을(를) 건너뛰었습니다: 자산 {asset}이(가) 이미 있고 작업의 "
               "overwrite 옵션이 false입니다"),
    },
    "psd.layer_refused": {
        "en": "Layer {number} ('{layer}') of {path} was not extracted: {reason}",
        "ko": "{path}의 레이어 {number}('{layer}')을(를) 추출하지 않았습니다: {reason}",
    },
    "psd.template_created": {
        "en": "Template {asset} was created from {path} with {count} layers (anchor {anchor})",
        "ko": "{path}에서 레이어 {count}개로 템플릿 {asset}을(를) 만들었습니다 (기준점 {anchor})",
    },
    "psd.template_updated": {
        "en": "Template {asset} was updated from {path}: {count} layers (anchor {anchor})",
        "ko": "{path}에서 템플릿 {asset}을(를) 업데이트했습니다: 레이어 {count}개 (기준점 {anchor})",
    },
    "psd.template_duplicate": {
        "en": "Template {asset} for {path} was not made: the asset exists and the job's overwrite option is false",
        "ko": "{path}의 템플릿 {asset}을(를) 만들지 않았습니다: 자산이 이미 있고 작업의 overwrite 옵션이 false입니다",
    },
    "psd.no_pixels": {
        "en": "{path}: {count} adjustment or empty layers have no image of their own and became no asset",
        "ko": "{path}: 조정 레이어 또는 빈 레이어 {count}개는 자체 이미지가 없어 자산이 되지 않았습니다",
    },
    "psd.layer_limit": {
        "en": "{path} has {count} layers; only the bottom {limit} were extracted",
        "ko": "{path}에는 레이어가 {count}개 있으며 아래쪽 {limit}개만 추출했습니다",
    },
    "psd.groups_too_deep": {
        "en": ("{path}: {count} layers sit more than {limit} layer groups deep; their folders stop at the "
               "{limit}th level"),
        "ko": "{path}: 레이어 {count}개가 레이어 그룹 {limit}단계보다 깊이 있어 폴더는 {limit}단계까지만 만들었습니다",
    },
    "illustrator.not_rasterised": {
        "en": "{path} is an Illustrator file that is not PDF-compatible (PostScript-based); only the master was "
              "stored, no image was rendered",
        "ko": "{path}은(는) PDF 호환이 아닌(PostScript 기반) Illustrator 파일입니다. 원본만 저장했고 이미지는 "
              "렌더링하지 않았습니다",
    },
    "video.summary": {
        "en": "{type}: {streams}{playable}{poster}{encodings}",
        "ko": "{type}: {streams}{playable}{poster}{encodings}",
    },
    "video.not_playable": {
        "en": "; not played by web browsers ({why}), so stored as it is and not previewable",
        "ko": "; 웹 브라우저에서 재생되지 않으므로({why}) 그대로 저장되었으며 미리 볼 수 없습니다",
    },
    "video.poster": {
        "en": "; poster: the frame at {time} ms, {raster}",
        "ko": "; 포스터: {time} ms 지점의 프레임, {raster}",
    },
    "video.no_poster": {
        "en": "; no poster (mediaOptions.generateThumbnail is false), so no pyramid TIFF",
        "ko": "; 포스터 없음 (mediaOptions.generateThumbnail이 false), 따라서 피라미드 TIFF 없음",
    },
    "video.encodings": {
        "en": "; renditions queued for transcoding: {names}",
        "ko": "; 트랜스코딩 대기 중인 렌디션: {names}",
    },
    "video.rendition_made": {
        "en": "{path}: rendition {name} of asset {asset} was made ({container}, {codec} {width}×{height}, {audio}, "
              "{seconds} s, {size} bytes, in {took} s)",
        "ko": "{path}: 자산 {asset}의 렌디션 {name}을(를) 만들었습니다 ({container}, {codec} {width}×{height}, {audio}, "
              "{seconds} s, {size} 바이트, {took} s 소요)",
    },
    "video.rendition_error": {
        "en": "{path}: rendition {name} was not made: {reason}",
        "ko": "{path}: 렌디션 {name}을(를) 만들지 못했습니다: {reason}",
    },
    "video.time_beyond_end": {
        "en": "thumbnailOptions.thumbnailTime {time} ms is past the end of the video ({duration}); the poster is "
              "the first frame",
        "ko": "thumbnailOptions.thumbnailTime {time} ms가 동영상의 끝({duration})을 지났으므로 첫 프레임을 포스터로 "
              "사용했습니다",
    },
    "video.poster_capped": {
        "en": "thumbnailOptions.thumbnailTime {time} ms: decoding stopped at its limit of {frames} frames; the "
              "poster is the frame at {used} ms",
        "ko": "thumbnailOptions.thumbnailTime {time} ms: 디코딩이 한도({frames}프레임)에서 멈췄으므로 {used} ms "
              "지점의 프레임을 포스터로 사용했습니다",
    },
    "video.no_decoder": {
        "en": "no poster was made: openips has no decoder for the {codec} video codec; the video is stored as it is",
        "ko": "포스터를 만들지 않았습니다: openips에는 {codec} 동영상 코덱의 디코더가 없습니다. 동영상은 그대로 "
              "저장되었습니다",
    },
    "thumbnail.failed": {
        "en": "no thumbnail was made ({reason}); the asset and its pyramid TIFF are stored without one",
        "ko": "썸네일을 만들지 못했습니다({reason}). 자산과 피라미드 TIFF는 썸네일 없이 저장되었습니다",
    },
    "set.preset": {
        "en": "batch set preset '{name}' ({handle})",
        "ko": "일괄 세트 사전 설정 '{name}' ({handle})",
    },
    "set.created": {
        "en": "{type} {name} created in {folder} by {preset} with {count} members: {names}",
        "ko": "{preset}(으)로 {folder}에 {type} {name}을(를) 만들었습니다 (구성원 {count}개): {names}",
    },
    "set.updated": {
        "en": "{type} {name} in {folder} updated by {preset}: {count} members ({added} new): {names}",
        "ko": "{preset}(으)로 {folder}의 {type} {name}을(를) 업데이트했습니다: 구성원 {count}개 (신규 {added}개): {names}",
    },
    "set.refused": {
        "en": "{type} {name} not created by {preset}: {reason}",
        "ko": "{preset}(으)로 {type} {name}을(를) 만들지 않았습니다: {reason}",
    },
    "set.names": {"en": "{shown}{more}", "ko": "{shown}{more}"},
    "set.more": {"en": ", … ({count} more)", "ko": ", … (외 {count}개)"},
    "set.preset_missing": {
        "en": "Batch set preset {handle} not found; it created no sets",
        "ko": "일괄 세트 사전 설정 {handle}을(를) 찾을 수 없어 세트를 만들지 않았습니다",
    },
    "mail.not_configured": {
        "en": "The {kind} e-mail to {recipient} was not sent: no sender address is configured (SenderEmail)",
        "ko": "{recipient}에게 보낼 {kind} 메일을 보내지 않았습니다: 보내는 주소가 설정되지 않았습니다 (SenderEmail)",
    },
    "mail.sent": {
        "en": "The {kind} e-mail was sent to {recipient}{attempt}",
        "ko": "{kind} 메일을 {recipient}에게 보냈습니다{attempt}",
    },
    "mail.attempt": {"en": " (attempt {n})", "ko": " ({n}번째 시도)"},
    "mail.failed": {
        "en": "The {kind} e-mail to {recipient} could not be sent after {attempts}: {error}",
        "ko": "{recipient}에게 보낼 {kind} 메일을 {attempts} 시도했지만 보내지 못했습니다: {error}",
    },
    "mail.domain_not_allowed": {
        "en": ("The {kind} e-mail to {recipient} was not sent: the address is not in a domain this service may "
               "send mail to (allowed: {allowed})"),
        "ko": ("{recipient}에게 보낼 {kind} 메일을 보내지 않았습니다: 이 서비스가 메일을 보낼 수 있는 도메인의 주소가 "
               "아닙니다 (허용: {allowed})"),
    },
    "mail.quota_reached": {
        "en": ("The {kind} e-mail to {recipient} was not sent: company {company} reached its daily mail quota "
               "({limit} e-mails on {day}, UTC)"),
        "ko": ("{recipient}에게 보낼 {kind} 메일을 보내지 않았습니다: 회사 {company}이(가) 하루 메일 한도에 "
               "도달했습니다 ({day}, UTC 기준 {limit}통)"),
    },
    "mail.attempts.one": {"en": "1 attempt", "ko": "1번"},
    "mail.attempts.many": {"en": "{n} attempts", "ko": "{n}번"},
    "webhook.delivered": {
        "en": "Webhook delivered to {target} ({detail}, attempt {attempt} of {total})",
        "ko": "{target}(으)로 웹훅을 전달했습니다 ({detail}, {total}번 중 {attempt}번째 시도)",
    },
    "webhook.failed": {
        "en": "Webhook to {target} failed ({detail}, attempt {attempt} of {total}){tail}",
        "ko": "{target}(으)로 웹훅 전달에 실패했습니다 ({detail}, {total}번 중 {attempt}번째 시도){tail}",
    },
    "webhook.next": {"en": "; next attempt in {delay}", "ko": "; 다음 시도: {delay} 후"},
    "webhook.give_up": {"en": "; no attempts left, giving up", "ko": "; 남은 시도가 없어 중단합니다"},
    "webhook.not_retried": {"en": "; not retried", "ko": "; 다시 시도하지 않습니다"},
    "notify.resent": {
        "en": "Notifications re-sent on request of {who}",
        "ko": "{who}의 요청으로 알림을 다시 보냈습니다",
    },
    "indesign.no_previews": {
        "en": "{path} holds no page previews in its XMP; only the master was stored",
        "ko": "{path}의 XMP에 페이지 미리 보기가 없어 마스터 파일만 저장했습니다",
    },
    "indesign.preview_problem": {
        "en": "{path}: {problem}",
        "ko": "{path}: {problem}",
    },
    "job.pause_expired": {
        "en": ("Job {job} was paused for {paused} hours, longer than the limit of {limit} hours (MaxPauseSeconds): "
               "it was stopped, and its files that had not started are cancelled"),
        "ko": ("작업 {job}이(가) {paused}시간 동안 일시 중지되어 한도 {limit}시간(MaxPauseSeconds)을 넘었습니다: "
               "작업을 중지했으며 시작되지 않은 파일은 취소됩니다"),
    },
    "job.repaired": {
        "en": "Job accounting repaired ({by}): {changes}",
        "ko": "작업 집계를 바로잡았습니다 ({by}): {changes}",
    },
    "file.stalled": {
        "en": "processing never finished: its last attempt ({attempts}) ended without a result{error}",
        "ko": "처리가 끝나지 않았습니다: 마지막 시도({attempts}번째)가 결과 없이 끝났습니다{error}",
    },
    "file.upload_gone": {
        "en": "its uploaded object is gone, so it could not be processed again",
        "ko": "업로드된 객체가 없어 다시 처리할 수 없습니다",
    },
    "job.end": {
        "en": ("Upload job {job} ended ({reason}): {received} files, {success} new, {update} updated, "
               "{duplicate} duplicates skipped, {error} errors{cancelled}, {warning} with warnings{missing}"),
        "ko": ("업로드 작업 {job}이(가) 종료되었습니다 ({reason}): 파일 {received}개, 신규 {success}개, "
               "업데이트 {update}개, 중복으로 건너뜀 {duplicate}개, 오류 {error}개{cancelled}, 경고 {warning}개{missing}"),
    },
    "job.end.stopped": {"en": "stopped by {by}", "ko": "{by}(으)로 중지됨"},
    "job.end.endJob": {"en": "endJob", "ko": "endJob 요청"},
    "job.end.idle": {"en": "idle timeout", "ko": "유휴 시간 초과"},
    "job.end.closed": {"en": "closed", "ko": "닫힘"},
    "job.end.cancelled": {
        "en": " ({count} cancelled, not started)",
        "ko": " (시작 전 취소 {count}개)",
    },
    "job.end.missing": {
        "en": "; {count} uploaded objects never produced an upload event and were not processed",
        "ko": "; 업로드된 객체 {count}개는 업로드 이벤트가 오지 않아 처리되지 않았습니다",
    },
}


def language_of(locale: str | None) -> str:
    """``ko-KR`` → ``ko``; anything unknown → English."""
    language = (locale or "").replace("_", "-").split("-")[0].lower()
    return language if any(language in texts for texts in MESSAGES.values()) else DEFAULT_LANGUAGE


def message(message_id: str, **params: Any) -> dict[str, Any]:
    """A message reference, usable as a parameter of another message."""
    return {"id": message_id, "params": params}


def details(notes: Sequence[str]) -> dict[str, Any] | str:
    """The ``{details}`` of a file's row: its notes, or nothing."""
    return message("file.details", text="; ".join(n.rstrip(".") for n in notes)) if notes else ""


def render(message_id: str, params: Mapping[str, Any], locale: str | None = None) -> str:
    texts = MESSAGES[message_id]
    template = texts.get(language_of(locale)) or texts[DEFAULT_LANGUAGE]
    values = {name: _value(value, locale) for name, value in params.items()}
    return template.format_map(values)


def _value(value: Any, locale: str | None) -> str:
    if isinstance(value, Mapping) and "id" in value:
        return render(value["id"], value.get("params", {}), locale)
    if value is None:
        return ""
    return str(value)
