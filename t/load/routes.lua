-- wrk script: one API route under load, every answer checked against the
-- status that route must give.  Used by t/300-load.t and bench/run.sh.
--
--   LOAD_ROUTE=list_messages LOAD_SUBS=<sub>,<sub> LOAD_GROUPS=<uuid>,... \
--       wrk -t2 -c16 -d3s -s t/load/routes.lua http://127.0.0.1:PORT
--
-- Environment (lists are comma separated and rotated request by request):
--   LOAD_ROUTE       a name of the routes table below
--   LOAD_SUBS        the callers' Cognito subs (the identity header)
--   LOAD_SUB_HEADER  the header ddbm_identity reads (X-Test-Sub)
--   LOAD_GROUPS      conversation uuids (list_messages, posts, 403s)
--   LOAD_HANDLE      the other user's handle (create mode, user_short)
--   LOAD_TAG         text put in posted messages (tells runs apart)
--   LOAD_DELAY_MS    pause before each request of a connection (none):
--                    keeps the routes without a DynamoDB call from taking
--                    all the CPU when several wrk run at once
--   LOAD_THREADS     wrk's -t (2): each thread takes its own stripe of a
--                    list, so two threads do not post to one conversation
--                    at the same moment
--
-- done() prints one line the callers parse:
--   ddbm-load route=R expected=S requests=N ok=N unexpected=N 1xx=N 2xx=N
--   3xx=N 4xx=N 5xx=N connect=N read=N write=N timeout=N first_unexpected=..
-- and wrk exits 1 when a status was unexpected or nothing completed, so a
-- bare wrk run fails too.

local function list(name)
    local out = {}
    for item in string.gmatch(os.getenv(name) or "", "[^,]+") do
        out[#out + 1] = item
    end
    return out
end

local route_name = os.getenv("LOAD_ROUTE") or ""
local sub_header = os.getenv("LOAD_SUB_HEADER") or "X-Test-Sub"
local subs = list("LOAD_SUBS")
local groups = list("LOAD_GROUPS")
local handle = os.getenv("LOAD_HANDLE") or ""
local tag = os.getenv("LOAD_TAG") or "load"
local nthreads = tonumber(os.getenv("LOAD_THREADS") or "2")

-- a well-formed v4 uuid no conversation has (404), nobody's sub (401)
local nobody = "0badc0de-0000-4000-8000-000000000000"

-- n: this thread's request count; tid: its number, set by setup()
n = 0
tid = 0

local function pick(items)
    if #items == 0 then
        return nil
    end
    return items[((n * nthreads + tid) % #items) + 1]
end

local function post(body)
    return "POST", "/api/messages", body
end

local routes = {
    health = { expect = 200, identity = false,
        make = function() return "GET", "/health" end },
    list_conversations = { expect = 200,
        make = function() return "GET", "/api/message_groups" end },
    list_messages = { expect = 200,
        make = function() return "GET", "/api/messages/" .. pick(groups) end },
    -- update mode: the sender must be a member of every group in the list
    post_update = { expect = 200,
        make = function()
            return post(string.format(
                '{"message":"%s %d-%d","message_group_uuid":"%s"}',
                tag, tid, n, pick(groups)))
        end },
    -- create mode: every 200 is a new conversation
    post_create = { expect = 200,
        make = function()
            return post(string.format('{"message":"%s %d-%d","handle":"%s"}',
                                      tag, tid, n, handle))
        end },
    user_short = { expect = 200, identity = false,
        make = function()
            return "GET", "/api/users/@" .. handle .. "/short"
        end },
    no_identity = { expect = 401, identity = false,
        make = function() return "GET", "/api/message_groups" end },
    unknown_identity = { expect = 401, sub = nobody,
        make = function() return "GET", "/api/message_groups" end },
    -- LOAD_SUBS: someone who is in none of LOAD_GROUPS
    not_member_read = { expect = 403,
        make = function() return "GET", "/api/messages/" .. pick(groups) end },
    not_member_post = { expect = 403,
        make = function()
            return post(string.format(
                '{"message":"%s intruder","message_group_uuid":"%s"}',
                tag, pick(groups)))
        end },
    unknown_conversation = { expect = 404,
        make = function() return "GET", "/api/messages/" .. nobody end },
    blank_message = { expect = 422,
        make = function()
            return post(string.format(
                '{"message":"","message_group_uuid":"%s"}', pick(groups)))
        end },
}

local route = routes[route_name]
if route == nil then
    io.stderr:write("routes.lua: unknown LOAD_ROUTE '" .. route_name .. "'\n")
    os.exit(2)
end

-- main state: keep the threads to read their counters in done()
local threads = {}

function setup(thread)
    thread:set("tid", #threads)
    threads[#threads + 1] = thread
end

function request()
    local method, path, body = route.make()
    local headers = {}
    if route.sub then
        headers[sub_header] = route.sub
    elseif route.identity ~= false then
        headers[sub_header] = pick(subs)
    end
    if body then
        headers["Content-Type"] = "application/json"
    end
    n = n + 1
    return wrk.format(method, path, headers, body)
end

local delay_ms = tonumber(os.getenv("LOAD_DELAY_MS") or "")
if delay_ms then
    function delay()
        return delay_ms
    end
end

ok, unexpected = 0, 0
classes = { 0, 0, 0, 0, 0 }
first_unexpected = ""

function response(status, headers, body)
    if status == route.expect then
        ok = ok + 1
    else
        unexpected = unexpected + 1
        if first_unexpected == "" then
            -- status and the start of the body, one token for the parser
            first_unexpected = status .. ":"
                .. string.gsub(string.sub(body or "", 1, 120), "%s", "_")
        end
    end
    local c = math.floor(status / 100)
    if c >= 1 and c <= 5 then
        classes[c] = classes[c] + 1
    end
end

function done(summary, latency, requests)
    local total = { ok = 0, unexpected = 0, 0, 0, 0, 0, 0 }
    local first = ""
    for _, t in ipairs(threads) do
        total.ok = total.ok + t:get("ok")
        total.unexpected = total.unexpected + t:get("unexpected")
        local cl = t:get("classes")
        for c = 1, 5 do
            total[c] = total[c] + cl[c]
        end
        if first == "" then
            first = t:get("first_unexpected")
        end
    end
    local e = summary.errors
    io.write(string.format(
        "ddbm-load route=%s expected=%d requests=%d ok=%d unexpected=%d "
        .. "1xx=%d 2xx=%d 3xx=%d 4xx=%d 5xx=%d "
        .. "connect=%d read=%d write=%d timeout=%d first_unexpected=%s\n",
        route_name, route.expect, summary.requests, total.ok,
        total.unexpected, total[1], total[2], total[3], total[4], total[5],
        e.connect, e.read, e.write, e.timeout,
        first == "" and "-" or first))
    io.flush()
    if total.unexpected > 0 or total.ok == 0 then
        os.exit(1)
    end
end
