-- The baseline of bench/run.sh: the DynamoDB call a route makes on its
-- warm path, sent by the client through a plain proxy_pass, so the two
-- differ only by what the module does.
--
--   BASELINE_TARGET  the operation: Query, GetItem, TransactWriteItems, ...
--   BASELINE_BODY    the body, byte for byte as the module sent it (run.sh
--                    records it at the start of the run)
--   BASELINE_UNIQUE  1 for a TransactWriteItems: every request is made one
--                    that succeeds (below)
--   LOAD_THREADS     wrk's -t (2), so the threads' keys never collide
--
-- A transaction the module sent cannot be sent twice: its message key
-- exists, the record's `rev = :rev` no longer holds, the token is used.
-- So each request gets its own token and its own sort keys (same length
-- within a byte or two), in partitions of their own (BMSG#, BGRP#,
-- BGRPMETA#: the module's conversations are not touched), and the record's
-- condition reads `attribute_not_exists(pk) OR rev = :rev` (true on the
-- new key, same attribute values).  Same items, same conditions evaluated,
-- every one a success; the Deletes remove nothing, the module's remove the
-- old conversation rows.
local target = os.getenv("BASELINE_TARGET") or "Query"
local body = os.getenv("BASELINE_BODY") or ""
local unique = os.getenv("BASELINE_UNIQUE") == "1"
local nthreads = tonumber(os.getenv("LOAD_THREADS") or "2")

wrk.method = "POST"
wrk.body = body
wrk.headers["Content-Type"] = "application/x-amz-json-1.0"
wrk.headers["X-Amz-Target"] = "DynamoDB_20120810." .. target
wrk.headers["X-Amz-Date"] = "20261126T000000Z"
-- neither DynamoDB Local nor the canned backend checks signatures; the
-- header has the shape and length of the module's
wrk.headers["Authorization"] = "AWS4-HMAC-SHA256 "
    .. "Credential=local/20261126/us-east-1/dynamodb/aws4_request, "
    .. "SignedHeaders=content-type;host;x-amz-date;x-amz-target, "
    .. "Signature=0000000000000000000000000000000000000000000000000000000000000000"

if unique then
    local time_pat = "%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%d%.%d+%+00:00"
    -- the template's first time is the new message's, a later different
    -- one the old conversation rows' (update mode only)
    local new_time = string.match(body, time_pat)
    local template = body
        :gsub('"S":"MSG#', '"S":"BMSG#')
        :gsub('"S":"GRP#', '"S":"BGRP#')
        :gsub('"S":"GRPMETA#', '"S":"BGRPMETA#')
        :gsub('"sk":{"S":"META"}', '"sk":{"S":"@NEW@"}')
        :gsub('"ConditionExpression":"rev = :rev"',
              '"ConditionExpression":"attribute_not_exists(pk) OR rev = :rev"')
        :gsub('"ClientRequestToken":"[^"]*"', '"ClientRequestToken":"@TOKEN@"')
    template = template:gsub(time_pat, function(t)
        return t == new_time and "@NEW@" or "@OLD@"
    end)
    local run_id = os.time()

    n = 0
    tid = 0
    local threads = {}
    function setup(thread)
        thread:set("tid", #threads)
        threads[#threads + 1] = thread
    end

    function request()
        n = n + 1
        local seq = n * nthreads + tid
        local key = string.format("%010d.%022d", run_id, seq)
        local b = template
            :gsub("@NEW@", "N" .. key)
            :gsub("@OLD@", "O" .. key)
            :gsub("@TOKEN@", string.format("%012d%024d", run_id, seq))
        return wrk.format(nil, nil, nil, b)
    end
end
