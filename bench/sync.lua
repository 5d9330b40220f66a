-- The requests of bench/sync, for wrk: exactly COUNT fresh Stripe product
-- events, pre-signed by bench/presign.c (PRODUCTS and PRODUCT_RUN mode),
-- then the thread stops.
--
--   QBSYNC_BENCH_TEMPLATE    the body, with evt_XXXXXXXXXXXXXXXXXXXXXXXX for
--                            the event id and PPPPPPPPPPPPPPPPPPPPPPPP (24 P)
--                            in the product id and its name
--   QBSYNC_BENCH_SIGNATURES  presign's output: "t run products product_run",
--                            then the v1 of each event
--   QBSYNC_BENCH_ACTION      the action every answer must carry ("created",
--                            "updated"): anything else, a status other than
--                            200 or an answer with a warning included,
--                            counts as unexpected
--
-- Event i is evt_<run><i> about product prod_<product_run><1 + (i-1) mod
-- products>, as presign signed it. Each connection's next request waits
-- in delay() once every event has been handed out, so that nothing but
-- these events reaches nginx; the last answer ends the run (a SIGINT to
-- wrk itself, which ends its sleep of -d). done() prints the time from the
-- first event sent to the last answer, the duration to use (0 when some
-- event was never answered). One thread only (wrk -t1).
--
-- Unlike bench/deliver.lua this one reads every answer: the simulator
-- limits the rate to a few thousand a second, far below what wrk's Lua
-- can look at.

local ffi = require("ffi")

ffi.cdef[[
    typedef struct { long tv_sec; long tv_nsec; } qbsync_timespec;
    int clock_gettime(int clock, qbsync_timespec *ts);
    int getpid(void);
    int kill(int pid, int sig);
]]

local clock = ffi.new("qbsync_timespec")

local function now()
    ffi.C.clock_gettime(1, clock)           -- CLOCK_MONOTONIC
    return tonumber(clock.tv_sec) + tonumber(clock.tv_nsec) / 1e9
end

local function read(name)
    local file = assert(io.open(name, "rb"))
    local text = file:read("*a")
    file:close()
    return text
end

local event_placeholder = "evt_XXXXXXXXXXXXXXXXXXXXXXXX"
local product_placeholder = string.rep("P", 24)

local template = read(os.getenv("QBSYNC_BENCH_TEMPLATE"))
local action = '"action":"' .. os.getenv("QBSYNC_BENCH_ACTION") .. '"'

local lines = io.lines(os.getenv("QBSYNC_BENCH_SIGNATURES"))
local t, run, products, product_run =
    lines():match("^(%d+) (%x+) (%d+) (%x+)$")
assert(t, "not a signatures file of presign's product mode")
products = tonumber(products)

local signatures = {}

for signature in lines do
    signatures[#signatures + 1] = signature
end

local count = #signatures

-- the template cut at its placeholders: text, placeholder, text, ...
local parts = {}

do
    local rest = template
    while true do
        local e = rest:find(event_placeholder, 1, true)
        local p = rest:find(product_placeholder, 1, true)
        local at, kind, len

        if e and (not p or e < p) then
            at, kind, len = e, "event", #event_placeholder
        elseif p then
            at, kind, len = p, "product", #product_placeholder
        else
            break
        end

        parts[#parts + 1] = rest:sub(1, at - 1)
        parts[#parts + 1] = kind
        rest = rest:sub(at + len)
    end
    parts[#parts + 1] = rest
end

local length = "\r\nContent-Length: " .. #template .. "\r\n\r\n"

handed = 0      -- events given a connection (in delay())
sent = 0        -- events written (in request())
answered = 0
unexpected = 0
sample = ""     -- the first unexpected answer, for the report
first_sent = 0  -- when the first event went out, and the last answer came
last_answer = 0

function delay()
    if handed < count then
        handed = handed + 1
        return 0
    end

    -- never sent: the thread stops at the last answer
    return 3600 * 1000
end

function request()
    -- wrk asks for one request before the run, to check the script: that
    -- one (sent == 0 there, handed too) is never written
    local i = sent + 1

    if i > handed then
        i = 1
    else
        sent = i
        if i == 1 then
            first_sent = now()
        end
    end

    local product = string.format("%s%016x", product_run,
                                  1 + (i - 1) % products)
    local event = string.format("evt_%s%016x", run, i)
    local body = {}

    for n, part in ipairs(parts) do
        if n % 2 == 1 then
            body[n] = part
        elseif part == "event" then
            body[n] = event
        else
            body[n] = product
        end
    end

    return "POST " .. wrk.path .. " HTTP/1.1\r\nHost: " .. wrk.host
           .. "\r\nContent-Type: application/json"
           .. "\r\nStripe-Signature: t=" .. t .. ",v1=" .. signatures[i]
           .. length .. table.concat(body)
end

function response(status, headers, body)
    answered = answered + 1

    if status ~= 200 or not body:find(action, 1, true)
       or body:find('"warning"', 1, true)
    then
        unexpected = unexpected + 1
        if sample == "" then
            sample = status .. " " .. body
        end
    end

    if answered == count then
        last_answer = now()
        -- wrk's main thread sleeps for -d: SIGINT, which it handles, ends
        -- the sleep, and the run with it
        wrk.thread:stop()
        ffi.C.kill(ffi.C.getpid(), 2)
    end
end

local threads = {}

function setup(thread)
    table.insert(threads, thread)
end

function done(summary, latency, requests)
    local answers, odd, first, seconds = 0, 0, "", 0

    for _, thread in ipairs(threads) do
        answers = answers + thread:get("answered")
        seconds = thread:get("last_answer") - thread:get("first_sent")
        odd = odd + thread:get("unexpected")
        if first == "" then
            first = thread:get("sample")
        end
    end

    io.write(string.format("events answered: %d\n", answers))
    io.write(string.format("unexpected answers: %d\n", odd))
    io.write(string.format("seconds from the first event to the last "
                           .. "answer: %.6f\n", seconds))
    if first ~= "" then
        io.write("first unexpected: " .. first:gsub("%s+", " ") .. "\n")
    end
end
