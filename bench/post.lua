-- wrk script: POST the KMS request body in $BENCH_BODY with the target in $BENCH_TARGET.
local file = assert(io.open(os.getenv("BENCH_BODY"), "rb"))
wrk.method = "POST"
wrk.body = file:read("*a")
file:close()
wrk.headers["Content-Type"] = "application/x-amz-json-1.1"
wrk.headers["X-Amz-Target"] = "TrentService." .. os.getenv("BENCH_TARGET")
-- SigV4 headers: the runner signs the body for strict mode ($BENCH_AUTHORIZATION, $BENCH_AMZ_DATE, valid for the
-- 5 minutes of allowed clock skew); otherwise a syntactically valid header that permissive mode parses only.
wrk.headers["Authorization"] = os.getenv("BENCH_AUTHORIZATION") or "AWS4-HMAC-SHA256 Credential=AKIDBENCH/20260101/us-east-1/kms/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=0000000000000000000000000000000000000000000000000000000000000000"
wrk.headers["X-Amz-Date"] = os.getenv("BENCH_AMZ_DATE") or "20260101T000000Z"
-- wrk itself counts non-2xx responses; the runner fails the run when there are any.
