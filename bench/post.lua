-- wrk script: POST the KMS request body in $BENCH_BODY with the target in $BENCH_TARGET.
local file = assert(io.open(os.getenv("BENCH_BODY"), "rb"))
wrk.method = "POST"
wrk.body = file:read("*a")
file:close()
wrk.headers["Content-Type"] = "application/x-amz-json-1.1"
wrk.headers["X-Amz-Target"] = "TrentService." .. os.getenv("BENCH_TARGET")
-- A syntactically valid SigV4 header: permissive mode parses it (region, access key) without verifying it.
wrk.headers["Authorization"] = "AWS4-HMAC-SHA256 Credential=AKIDBENCH/20260101/us-east-1/kms/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=0000000000000000000000000000000000000000000000000000000000000000"
wrk.headers["X-Amz-Date"] = "20260101T000000Z"
-- wrk itself counts non-2xx responses; the runner fails the run when there are any.
