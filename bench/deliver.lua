-- The requests of bench/run, for wrk.
--
-- Fresh mode (QBSYNC_BENCH_TEMPLATE and QBSYNC_BENCH_SIGNATURES set): every
-- request is a new Stripe event, pre-signed by bench/presign.c: the body
-- template's placeholder id becomes evt_<run><index>, and the signatures
-- file gives t and run on its first line, then the v1 of each index.
-- Signing here, in wrk's one thread, would make wrk the bottleneck.
--
-- Fixed mode (QBSYNC_BENCH_BODY, and QBSYNC_BENCH_SIGNATURE unless empty):
-- the same request every time: a bare POST, a forged delivery or a
-- duplicate.
--
-- Running out of pre-signed events is reported at the end ("events
-- reused"): the run would then measure duplicates.  wrk itself counts the
-- answers that are not 2xx; no response() callback here, it would cost
-- wrk more than nginx spends on some requests.

local template_file = os.getenv("QBSYNC_BENCH_TEMPLATE")

local function read(name)
    local file = assert(io.open(name, "rb"))
    local text = file:read("*a")
    file:close()
    return text
end

local make_request

reused = 0

if template_file then
    local placeholder = "evt_XXXXXXXXXXXXXXXXXXXXXXXX"
    local before, after = read(template_file):match("^(.-)" .. placeholder
                                                    .. "(.*)$")
    assert(before, "the template has no placeholder id")

    local lines = io.lines(os.getenv("QBSYNC_BENCH_SIGNATURES"))
    local t, run = lines():match("^(%d+) (%x+)$")
    local signatures = {}

    for signature in lines do
        signatures[#signatures + 1] = signature
    end

    local index = 0
    local head
    local length = "\r\nContent-Length: " .. (#before + #placeholder + #after)
                   .. "\r\n\r\n"

    -- one concatenation a request: the body's length never changes
    make_request = function()
        if index < #signatures then
            index = index + 1
        else
            reused = reused + 1
        end

        head = head or ("POST " .. wrk.path .. " HTTP/1.1\r\nHost: "
                        .. wrk.host
                        .. "\r\nContent-Type: application/json"
                        .. "\r\nStripe-Signature: t=" .. t .. ",v1=")

        return head .. signatures[index] .. length .. before
               .. string.format("evt_%s%016x", run, index) .. after
    end

else
    local body = read(os.getenv("QBSYNC_BENCH_BODY"))
    local headers = { ["Content-Type"] = "application/json" }
    local signature = os.getenv("QBSYNC_BENCH_SIGNATURE")
    local request_text

    if signature and signature ~= "" then
        headers["Stripe-Signature"] = signature
    end

    make_request = function()
        -- wrk knows the Host only once the thread runs
        request_text = request_text
                       or wrk.format("POST", nil, headers, body)
        return request_text
    end
end

function request()
    return make_request()
end

local threads = {}

function setup(thread)
    table.insert(threads, thread)
end

function done(summary, latency, requests)
    local total = 0

    for _, thread in ipairs(threads) do
        total = total + thread:get("reused")
    end

    io.write(string.format("events reused: %d\n", total))
end
