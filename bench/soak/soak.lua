-- wrk script of the soak (bench/soak.sh): one "lane" of routes picked at
-- random request by request.  wrk's response() cannot tell which request
-- it answers, so routes are grouped in lanes whose answers can be judged
-- without knowing the request:
--   mix     everything that must succeed: health, user_short, both lists,
--           posts in update and create mode, with and without
--           Idempotency-Key, retried identical requests (keyed: replayed,
--           stored once; unkeyed, as a client does after a timeout: may
--           store a second copy), a key reused with another body (422
--           idempotency_key_reused)
--   denied  401/403/404/422 requests: a 200 here is a violation (a
--           non-member read or posted, a blank message was accepted)
-- A fault may turn any answer into 502/503/504 (503 is also a busy
-- conversation); other statuses are "unexpected".
--
-- Environment:
--   SOAK_LANE     mix | denied
--   SOAK_NAME     this lane's name in file names and texts (the lane and
--                 the instance it runs against: mix1, denied2...)
--   SOAK_QUOTA    answers per thread, then the thread stops and writes
--                 SOAK_DIR/done-<lane>-<thread> (the driver then ends wrk)
--   SOAK_DIR      where the acknowledgements go: acks-<lane>-<thread>.log,
--                 one line per POST answered 200: "ack <replayed> <body>",
--                 and one per unkeyed POST sent again: "again <text>"
--   Texts: "soak <run> <kind> <name><thread>-<n>"; a keyed post's text
--   ends in " k=<key>" (kinds idem, idemnew, reuse), an unkeyed post's
--   does not (kinds upd, new): bench/soak/check.py tells them apart so.
--   SOAK_RUN      run tag, in every message text and key
--   SOAK_SUB_HEADER  the identity header (X-Soak-Sub)
--   SOAK_MEMBERS  sub:group,... (the sub is a member of the group)
--   SOAK_OUTSIDERS sub:group,... (the sub is not a member)
--   SOAK_CREATE   sub:handle,... (create mode: a new conversation)
--   SOAK_HANDLES  handles for user_short
--   SOAK_SUBS     subs for list_conversations
--
-- done() prints one line bench/soak.sh parses:
--   soak-lane lane=L answers=N s200=N ... unexpected=N denied200=N ...

local function list(name)
    local out = {}
    for item in string.gmatch(os.getenv(name) or "", "[^,]+") do
        out[#out + 1] = item
    end
    return out
end

local function pairs_of(name)
    local out = {}
    for _, item in ipairs(list(name)) do
        local a, b = string.match(item, "^([^:]+):(.+)$")
        out[#out + 1] = { a, b }
    end
    return out
end

local lane = os.getenv("SOAK_LANE") or "mix"
local name = os.getenv("SOAK_NAME") or lane
local quota = tonumber(os.getenv("SOAK_QUOTA") or "1000")
local dir = os.getenv("SOAK_DIR") or "."
local run = os.getenv("SOAK_RUN") or "soak"
local sub_header = os.getenv("SOAK_SUB_HEADER") or "X-Soak-Sub"
local members = pairs_of("SOAK_MEMBERS")
local outsiders = pairs_of("SOAK_OUTSIDERS")
local creates = pairs_of("SOAK_CREATE")
local handles = list("SOAK_HANDLES")
local subs = list("SOAK_SUBS")

-- well-formed, nobody's: 401 as a sub, 404 as a conversation
local nobody = "0badc0de-0000-4000-8000-000000000000"

-- per thread (setup() sets tid in each thread's own Lua state)
tid = 0
n = 0
local ring = {}          -- recent keyed POSTs, for retries: { req, key }
local ring_at = 0
local RING = 64
local uring = {}         -- recent unkeyed POSTs: { req, text }
local uring_at = 0
local acks
local stopped = false

local function any(t)
    return t[math.random(#t)]
end

local function post(headers, body)
    headers["Content-Type"] = "application/json"
    return wrk.format("POST", "/api/messages", headers, body)
end

local function get(path, sub)
    local headers = {}
    if sub then
        headers[sub_header] = sub
    end
    return wrk.format("GET", path, headers)
end

-- a unique text: lane, thread and request number
local function text(kind)
    return string.format("soak %s %s %s%d-%d", run, kind, name, tid, n)
end

local function unkeyed(headers, body, t)
    local req = post(headers, body)
    uring_at = uring_at % RING + 1
    uring[uring_at] = { req = req, text = t }
    return req
end

local function keyed(headers, body, key)
    headers["Idempotency-Key"] = key
    local req = post(headers, body)
    ring_at = ring_at % RING + 1
    ring[ring_at] = { req = req, key = key, headers = headers, body = body }
    return req
end

local mix = {
    { 6, function() return get("/health") end },
    { 6, function()
        return get("/api/users/@" .. any(handles) .. "/short")
    end },
    { 14, function() return get("/api/message_groups", any(subs)) end },
    { 20, function()
        local p = any(members)
        return get("/api/messages/" .. p[2], p[1])
    end },
    { 20, function()               -- update mode
        local p = any(members)
        local t = text("upd")
        return unkeyed({ [sub_header] = p[1] }, string.format(
            '{"message":"%s","message_group_uuid":"%s"}', t, p[2]), t)
    end },
    { 2, function()                -- create mode
        local p = any(creates)
        local t = text("new")
        return unkeyed({ [sub_header] = p[1] }, string.format(
            '{"message":"%s","handle":"%s"}', t, p[2]), t)
    end },
    { 14, function()               -- update mode, keyed
        local p = any(members)
        local key = string.format("%s-%s%d-%d", run, name, tid, n)
        return keyed({ [sub_header] = p[1] }, string.format(
            '{"message":"%s k=%s","message_group_uuid":"%s"}',
            text("idem"), key, p[2]), key)
    end },
    { 2, function()                -- create mode, keyed
        local p = any(creates)
        local key = string.format("%s-%s%d-%d", run, name, tid, n)
        return keyed({ [sub_header] = p[1] }, string.format(
            '{"message":"%s k=%s","handle":"%s"}', text("idemnew"), key,
            p[2]), key)
    end },
    { 8, function()                -- a keyed retry: the very same request
        if #ring == 0 then
            return get("/health")
        end
        return ring[math.random(#ring)].req
    end },
    { 4, function()                -- an unkeyed retry: the same again
        if #uring == 0 then
            return get("/health")
        end
        local u = uring[math.random(#uring)]
        acks:write("again\t", u.text, "\n")
        return u.req
    end },
    { 2, function()                -- a key again, with another body
        if #ring == 0 then
            return get("/health")
        end
        local r = ring[math.random(#ring)]
        local h = {}
        for k, v in pairs(r.headers) do
            h[k] = v
        end
        -- the same request but for its text
        local body = string.gsub(r.body, '"message":"[^"]*"',
            string.format('"message":"%s k=%s"', text("reuse"), r.key))
        return post(h, body)
    end },
}

local denied = {
    { 2, function() return get("/api/message_groups") end },          -- 401
    { 3, function() return get("/api/message_groups", nobody) end },  -- 401
    { 4, function()                                                   -- 403
        local p = any(outsiders)
        return get("/api/messages/" .. p[2], p[1])
    end },
    { 4, function()                                                   -- 403
        local p = any(outsiders)
        return post({ [sub_header] = p[1] }, string.format(
            '{"message":"%s","message_group_uuid":"%s"}', text("intruder"),
            p[2]))
    end },
    { 1, function()                                   -- 403, keyed
        local p = any(outsiders)
        local key = string.format("%s-x%s%d-%d", run, name, tid, n)
        return post({ [sub_header] = p[1], ["Idempotency-Key"] = key },
            string.format('{"message":"%s","message_group_uuid":"%s"}',
                          text("intruder"), p[2]))
    end },
    { 3, function()                                                   -- 404
        return get("/api/messages/" .. nobody, any(members)[1])
    end },
    { 3, function()                                                   -- 422
        local p = any(members)
        return post({ [sub_header] = p[1] }, string.format(
            '{"message":"","message_group_uuid":"%s"}', p[2]))
    end },
}

local routes = lane == "denied" and denied or mix
local total_weight = 0
for _, r in ipairs(routes) do
    total_weight = total_weight + r[1]
end

local threads = {}

function setup(thread)
    thread:set("tid", #threads)
    threads[#threads + 1] = thread
end

function init(args)
    math.randomseed(os.time() * 1000 + tid * 7919)
    acks = io.open(string.format("%s/acks-%s-%d.log", dir, name, tid), "a")
end

function request()
    n = n + 1
    local x = math.random() * total_weight
    for _, r in ipairs(routes) do
        x = x - r[1]
        if x < 0 then
            return r[2]()
        end
    end
    return routes[#routes][2]()
end

answers = 0
counts = {}           -- status => answers
unexpected = 0
denied200 = 0
replays = 0
reused422 = 0
post_acks = 0
first_unexpected = ""

local function note_unexpected(status, body)
    unexpected = unexpected + 1
    if first_unexpected == "" then
        first_unexpected = status .. ":"
            .. string.gsub(string.sub(body or "", 1, 160), "%s", "_")
    end
end

function response(status, headers, body)
    if stopped then
        return
    end
    answers = answers + 1
    counts[status] = (counts[status] or 0) + 1
    body = body or ""
    if status == 502 or status == 503 or status == 504 then
        -- a fault, a conversation too busy: allowed anywhere
    elseif lane == "denied" then
        if status >= 200 and status < 300 then
            denied200 = denied200 + 1
            note_unexpected(status, body)
            acks:write("DENIED200\t", string.gsub(body, "\n", " "), "\n")
        elseif status ~= 401 and status ~= 403 and status ~= 404
               and status ~= 422 then
            note_unexpected(status, body)
        end
    elseif status == 200 then
        if string.sub(body, 1, 1) == "{"
           and string.find(body, '"message_group_uuid"', 1, true) then
            post_acks = post_acks + 1
            local replayed = headers["Idempotent-Replayed"] and "1" or "0"
            if replayed == "1" then
                replays = replays + 1
            end
            acks:write("ack\t", replayed, "\t",
                       string.gsub(body, "\n", " "), "\n")
        end
    elseif status == 422
           and string.find(body, "idempotency_key_reused", 1, true) then
        reused422 = reused422 + 1
    else
        note_unexpected(status, body)
    end
    if answers >= quota then
        -- this thread's share is done: say so, stop sending
        stopped = true
        acks:flush()
        local f = io.open(string.format("%s/done-%s-%d", dir, name, tid),
                          "w")
        f:write(answers, "\n")
        f:close()
        wrk.thread:stop()
    end
end

function done(summary, latency, requests)
    local t = { answers = 0, unexpected = 0, denied200 = 0, replays = 0,
                reused422 = 0, post_acks = 0 }
    local st = {}
    local first = ""
    for _, th in ipairs(threads) do
        for k, _ in pairs(t) do
            t[k] = t[k] + th:get(k)
        end
        for s, c in pairs(th:get("counts")) do
            st[s] = (st[s] or 0) + c
        end
        if first == "" then
            first = th:get("first_unexpected")
        end
    end
    local parts = {}
    for s, c in pairs(st) do
        parts[#parts + 1] = string.format("s%d=%d", s, c)
    end
    table.sort(parts)
    local e = summary.errors
    io.write(string.format(
        "soak-lane lane=%s name=%s answers=%d post_acks=%d replays=%d "
        .. "reused422=%d unexpected=%d denied200=%d connect=%d read=%d "
        .. "write=%d timeout=%d statuses=%s first_unexpected=%s\n",
        lane, name, t.answers, t.post_acks, t.replays, t.reused422,
        t.unexpected, t.denied200, e.connect, e.read, e.write, e.timeout,
        table.concat(parts, ","), first == "" and "-" or first))
    io.flush()
end
