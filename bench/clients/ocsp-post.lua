-- wrk script of the publish benchmark: every request POSTs the bytes of one file (a DER OCSPRequest).
-- Usage: wrk -t1 -c10 -d10s -s ocsp-post.lua URL -- REQUEST.der

-- wrk's own resolve connects to each address once and closes it before the run, to drop the unreachable
-- ones. A connection closed before its request is read leaves `openssl ocsp -port` (OpenSSL 3.0) spinning
-- on it, with every later request queued behind, so the address is taken as resolved, without that probe.
function wrk.resolve(host, service)
  wrk.addrs = wrk.lookup(host, service)
end

-- Runs in each thread before its requests are built: wrk then formats one request from these and sends it
-- unchanged on every connection.
function init(args)
  local file = assert(io.open(args[1], "rb"))
  wrk.method = "POST"
  wrk.body = file:read("*a")
  file:close()
  wrk.headers["Content-Type"] = "application/ocsp-request"
end
