"""An S3 front for the local stack: moto behind it, S3's browser-upload checks in front of it.

moto stores whatever a presigned POST form sends: it reads no policy, checks no signature,
size, prefix or expiration (platform notes §4a). ``S3Front`` listens where the API's
presigned ``url`` points and

* answers ``POST /<bucket>`` with ``multipart/form-data`` (S3 "POST Object", a browser-based
  upload) itself (``post_object``): it checks the form as S3 does (``post_form.authorize_post``
  and the ``policy`` document), streams the file to a spooled temporary file, stores it in moto
  with ``PutObject`` (``put_object``: moto's S3 notification fires, as ``ObjectCreated:Put``),
  reports an ``UploadRecord`` and answers as S3 answers;
* checks every other request's Signature Version 4 as S3 does, with the same credentials
  (``sigv4.authenticate_request``: the ``Authorization`` header or a presigned URL, its expiry,
  clock skew, unsigned ``x-amz-*`` headers; then ``payload.verify_payload``: the body's SHA-256
  or each aws-chunked chunk's signature), and only then proxies it to moto (``proxy``), body
  and all (presigned GET URLs, boto3 calls, HEAD ...). Anonymous requests are refused: no
  bucket here is public. A presigned request reaches moto signed in headers instead,
  and the front logs no query string, so no signature or credential is written to a log;
* answers CORS preflights (``OPTIONS``, never signed) itself from the bucket's CORS rules, and
  adds the matching rule's CORS headers to every answer to a request with ``Origin``, as S3
  does (``cors``; the local stack gives the incoming bucket the template's rule with its own
  page's origin, so what S3 would refuse is refused here too).

The checks, their order and their answers follow AWS's "Browser-Based Uploads Using POST
(AWS Signature Version 4)", "POST Policy" (sigv4-HTTPPOSTConstructPolicy) and the S3 error
code list, and where those are silent, what S3 was recorded answering:

1. the form itself: ``multipart/form-data`` (400 ``RequestIsNotMultiPartContent``), well formed
   (400 ``MalformedPOSTRequest``), at most 20 KB of fields before ``file`` (400
   ``MaxPostPreDataLengthExceededError``), a ``file`` part (400 ``InvalidArgument``). Fields
   after ``file`` are ignored;
2. ``key`` present and not empty once ``${filename}`` is replaced (400 ``InvalidArgument``),
   at most 1024 bytes (400 ``KeyTooLongError``);
3. signature fields: none at all is an anonymous form, which no bucket here accepts (403
   ``AccessDenied``); Signature Version 2 fields are refused (400 ``InvalidArgument``, see
   ``authorize_post``); otherwise ``X-Amz-Algorithm``, ``X-Amz-Credential``, ``X-Amz-Date``,
   ``X-Amz-Signature`` and ``Policy`` are all required, in that order (400 ``InvalidArgument``);
4. their values: the algorithm, the date, the credential's shape and scope (400
   ``InvalidArgument``); the access key (403 ``InvalidAccessKeyId``); the signature over the
   policy as sent (403 ``SignatureDoesNotMatch``);
5. the policy document (400 ``InvalidPolicyDocument``), its expiration (403 ``AccessDenied``),
   each condition in turn (403 ``AccessDenied``), every field covered by a condition (403
   ``AccessDenied``);
6. the file's size against ``content-length-range`` once it has arrived (400
   ``EntityTooLarge`` / ``EntityTooSmall``).

Modules, from the bottom: ``errors``, ``signing`` (SigV4 shared by forms and requests),
``policy`` → ``post_form``; ``sigv4`` → ``payload``; ``wire`` (bodies, error answers),
``upstream`` (moto), ``context``, ``cors``; ``put_object``, ``post_object``, ``proxy``; ``server``
(``S3Front``).
"""

from openips_cli.s3front.context import UploadRecord
from openips_cli.s3front.errors import S3Error
from openips_cli.s3front.payload import verify_payload
from openips_cli.s3front.post_form import MAX_POST_OBJECT_SIZE, PostGrant, authorize_post, verify_post
from openips_cli.s3front.server import S3Front
from openips_cli.s3front.signing import signing_key
from openips_cli.s3front.sigv4 import SignedRequest, authenticate_request
from openips_cli.s3front.wire import BodyReader

__all__ = [
    "MAX_POST_OBJECT_SIZE",
    "BodyReader",
    "PostGrant",
    "S3Error",
    "S3Front",
    "SignedRequest",
    "UploadRecord",
    "authenticate_request",
    "authorize_post",
    "signing_key",
    "verify_payload",
    "verify_post",
]
