-- wrk script for t/250-credentials-auto.t: GET /api/message_groups as
-- the callers in LOAD_SUBS (comma separated, rotated; identity header
-- LOAD_SUB_HEADER, default X-Test-Sub), every answer counted by status.
--
--   LOAD_SUBS=<sub>,<sub> wrk -t2 -c8 -d10s -s t/load/credentials.lua URL
--
-- done() prints one line the test parses:
--   ddbm-cred-load requests=N codes=200:N,503:N,... no_retry_after=N
--   first_other=<status>:<body start>
-- (no_retry_after: 503 answers without Retry-After: 1; first_other: the
-- first answer that was neither 200 nor 503).  Always exits 0: the test
-- decides what was allowed.

local subs = {}
for item in string.gmatch(os.getenv("LOAD_SUBS") or "", "[^,]+") do
    subs[#subs + 1] = item
end
local sub_header = os.getenv("LOAD_SUB_HEADER") or "X-Test-Sub"

local threads = {}

function setup(thread)
    thread:set("tid", #threads)
    threads[#threads + 1] = thread
end

n = 0
tid = 0
codes = {}
no_retry_after = 0
first_other = ""

function request()
    n = n + 1
    local headers = {}
    if #subs > 0 then
        headers[sub_header] = subs[((n * 2 + tid) % #subs) + 1]
    end
    return wrk.format("GET", "/api/message_groups", headers)
end

function response(status, headers, body)
    codes[status] = (codes[status] or 0) + 1
    if status == 503 and headers["Retry-After"] ~= "1" then
        no_retry_after = no_retry_after + 1
    end
    if status ~= 200 and status ~= 503 and first_other == "" then
        first_other = status .. ":"
            .. string.gsub(string.sub(body or "", 1, 120), "%s", "_")
    end
end

function done(summary, latency, requests)
    local total = {}
    local nra = 0
    local first = ""
    for _, t in ipairs(threads) do
        for code, count in pairs(t:get("codes")) do
            total[code] = (total[code] or 0) + count
        end
        nra = nra + t:get("no_retry_after")
        if first == "" then
            first = t:get("first_other")
        end
    end
    local list = {}
    for code, count in pairs(total) do
        list[#list + 1] = code .. ":" .. count
    end
    table.sort(list)
    io.write(string.format(
        "ddbm-cred-load requests=%d codes=%s no_retry_after=%d "
        .. "errors=%d first_other=%s\n",
        summary.requests, table.concat(list, ","), nra,
        summary.errors.connect + summary.errors.read + summary.errors.write
        + summary.errors.timeout,
        first == "" and "-" or first))
    io.flush()
end
