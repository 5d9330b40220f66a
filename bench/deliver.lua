-- The requests of bench/run, for wrk.
--
-- Fresh mode (QBSYNC_BENCH_TEMPLATE and QBSYNC_BENCH_SECRET set): every
-- request is a new Stripe event, signed the way Stripe signs: the body
-- template's placeholder id becomes a unique event id, t is the current
-- second, v1 = hex(HMAC-SHA256(secret, t "." body)) computed with OpenSSL
-- through LuaJIT's FFI.
--
-- Fixed mode (QBSYNC_BENCH_BODY, and QBSYNC_BENCH_SIGNATURE unless empty):
-- the same request every time: a bare POST, a forged delivery or a
-- duplicate.
--
-- Answers other than QBSYNC_BENCH_EXPECT (default 200) are counted per
-- thread and reported at the end, so that a run measuring the wrong path
-- shows it.

local template_file = os.getenv("QBSYNC_BENCH_TEMPLATE")

local function read(name)
    local file = assert(io.open(name, "rb"))
    local text = file:read("*a")
    file:close()
    return text
end

local make_request

if template_file then
    local ffi = require("ffi")

    ffi.cdef[[
    typedef struct evp_md_st EVP_MD;
    const EVP_MD *EVP_sha256(void);
    unsigned char *HMAC(const EVP_MD *evp_md, const void *key, int key_len,
                        const unsigned char *d, size_t n, unsigned char *md,
                        unsigned int *md_len);
    ]]

    local crypto = ffi.load("crypto.so.3")
    local sha256 = crypto.EVP_sha256()
    local mac = ffi.new("unsigned char[32]")
    local mac_len = ffi.new("unsigned int[1]")
    local secret = os.getenv("QBSYNC_BENCH_SECRET")

    local placeholder = "evt_XXXXXXXXXXXXXXXXXXXXXXXX"
    local before, after = read(template_file):match("^(.-)" .. placeholder
                                                    .. "(.*)$")
    assert(before, "the template has no placeholder id")

    local hex = {}
    for i = 0, 255 do
        hex[i] = string.format("%02x", i)
    end

    local digits = {}
    local sequence = 0
    local run = string.format("%08x", os.time() % 0x100000000)

    make_request = function()
        sequence = sequence + 1

        local body = before .. string.format("evt_%s%016x", run, sequence)
                     .. after
        local t = tostring(os.time())
        local signed = t .. "." .. body

        crypto.HMAC(sha256, secret, #secret, signed, #signed, mac, mac_len)

        for i = 0, 31 do
            digits[i + 1] = hex[mac[i]]
        end

        return wrk.format("POST", nil, {
            ["Content-Type"] = "application/json",
            ["Stripe-Signature"] = "t=" .. t .. ",v1=" .. table.concat(digits),
        }, body)
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

expected = tonumber(os.getenv("QBSYNC_BENCH_EXPECT") or "200")
unexpected = 0

local threads = {}

function setup(thread)
    table.insert(threads, thread)
end

function response(status, headers, body)
    if status ~= expected then
        unexpected = unexpected + 1
    end
end

function done(summary, latency, requests)
    local total = 0

    for _, thread in ipairs(threads) do
        total = total + thread:get("unexpected")
    end

    io.write(string.format("unexpected answers: %d\n", total))
end
