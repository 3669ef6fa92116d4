-- wrk script: a PROVISIONAL CheckoutLicense of the unlimited "Access" entitlement that
-- seed.py created, with a fresh ClientToken per request (so no request is an idempotent
-- replay). The account is the emulator's default (no Authorization header).
-- Counts non-200 answers per thread and reports them at the end.

local account = os.getenv("BENCH_ACCOUNT") or "123456789012"
local threads = {}
local counter = 0
failures = 0 -- global: done() reads it from each thread
local prefix = ""

function setup(thread)
  thread:set("id", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  prefix = string.format("t%d-%d-", id, os.time())
end

wrk.method = "POST"
wrk.path = "/"
wrk.headers["Content-Type"] = "application/x-amz-json-1.1"
wrk.headers["X-Amz-Target"] = "AWSLicenseManager.CheckoutLicense"

local template = '{"ProductSKU":"bench-sku","CheckoutType":"PROVISIONAL",'
  .. '"KeyFingerprint":"aws:' .. account .. ':Acme:issuer-fingerprint",'
  .. '"Entitlements":[{"Name":"Access","Unit":"None"}],'
  .. '"Beneficiary":"' .. account .. '","ClientToken":"%s"}'

function request()
  counter = counter + 1
  return wrk.format(nil, nil, nil, string.format(template, prefix .. counter))
end

function response(status, headers, body)
  if status ~= 200 then
    failures = failures + 1
    if failures == 1 then
      io.stderr:write("first non-200 answer: " .. status .. " " .. body .. "\n")
    end
  end
end

function done(summary, latency, requests)
  local failed = 0
  for _, thread in ipairs(threads) do
    failed = failed + thread:get("failures")
  end
  io.write(string.format("requests %d, non-200 %d, socket errors %d\n", summary.requests, failed,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
  io.write(string.format("requests/s %.0f\n", summary.requests / (summary.duration / 1e6)))
  for _, p in ipairs({ 50, 90, 99, 99.9 }) do
    io.write(string.format("latency p%s %.3f ms\n", p, latency:percentile(p) / 1000))
  end
end
