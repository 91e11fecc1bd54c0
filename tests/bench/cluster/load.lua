-- One load generator for raftkv and etcd (v2 keys API and v3 JSON gateway), so both
-- sides are driven by the same client code.
-- Usage: wrk -s load.lua URL -- <raftkv|etcd2|etcd3> <put|get|stale|mix|txn> [keyspace] [readkeys]
--   put   100-byte values to random keys of the key space
--   get   linearizable reads of random preloaded keys
--   stale stale (serializable) reads of random preloaded keys
--   mix   90 % get, 10 % put
--   txn   one transaction: 2 compares (version < 10^9, always true) + 2 puts of 100-byte
--         values to two random keys of the key space (raftkv POST /v1/txn, etcd3 /v3/kv/txn)
local system, op, keyspace, readkeys
local value = string.rep("v", 100)
local b64chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
local thread_offset = 0
local threads = {}

local function base64(data)
  return ((data:gsub(".", function(x)
    local r, b = "", x:byte()
    for i = 8, 1, -1 do r = r .. (b % 2 ^ i - b % 2 ^ (i - 1) > 0 and "1" or "0") end
    return r
  end) .. "0000"):gsub("%d%d%d?%d?%d?%d?", function(x)
    if #x < 6 then return "" end
    local c = 0
    for i = 1, 6 do c = c + (x:sub(i, i) == "1" and 2 ^ (6 - i) or 0) end
    return b64chars:sub(c + 1, c + 1)
  end) .. ({ "", "==", "=" })[#data % 3 + 1])
end
local value64 = base64(value)

function setup(thread)
  thread:set("thread_offset", #threads)
  table.insert(threads, thread)
end

function init(args)
  system = args[1]
  op = args[2]
  keyspace = tonumber(args[3] or "100000")
  readkeys = tonumber(args[4] or "10000")
  math.randomseed(os.time() * 1000 + thread_offset)
end

local function put(n)
  local key = "k" .. n
  if system == "raftkv" then
    return wrk.format("PUT", "/v1/kv/" .. key, nil, value)
  elseif system == "etcd2" then
    return wrk.format("PUT", "/v2/keys/" .. key,
      { ["Content-Type"] = "application/x-www-form-urlencoded" }, "value=" .. value)
  else
    return wrk.format("POST", "/v3/kv/put", { ["Content-Type"] = "application/json" },
      '{"key":"' .. base64(key) .. '","value":"' .. value64 .. '"}')
  end
end

local function get(n, stale)
  local key = "k" .. n
  if system == "raftkv" then
    return wrk.format("GET", "/v1/kv/" .. key .. (stale and "?consistency=stale" or ""))
  elseif system == "etcd2" then
    return wrk.format("GET", "/v2/keys/" .. key .. (stale and "" or "?quorum=true"))
  else
    local extra = stale and ',"serializable":true' or ""
    return wrk.format("POST", "/v3/kv/range", { ["Content-Type"] = "application/json" },
      '{"key":"' .. base64(key) .. '"' .. extra .. "}")
  end
end

-- Two compares that always hold and two puts, the same work on both systems.
local function txn(a, b)
  local ka, kb = "k" .. a, "k" .. b
  if system == "raftkv" then
    local function cmp(k) return '{"key":"' .. k .. '","target":"version","op":"<","value":1000000000}' end
    local function put1(k) return '{"put":{"key":"' .. k .. '","value":"' .. value .. '"}}' end
    return wrk.format("POST", "/v1/txn", { ["Content-Type"] = "application/json" },
      '{"compare":[' .. cmp(ka) .. "," .. cmp(kb) .. '],"success":[' .. put1(ka) .. "," ..
      put1(kb) .. '],"failure":[]}')
  else
    local function cmp(k)
      return '{"key":"' .. base64(k) .. '","target":"VERSION","result":"LESS","version":"1000000000"}'
    end
    local function put1(k)
      return '{"request_put":{"key":"' .. base64(k) .. '","value":"' .. value64 .. '"}}'
    end
    return wrk.format("POST", "/v3/kv/txn", { ["Content-Type"] = "application/json" },
      '{"compare":[' .. cmp(ka) .. "," .. cmp(kb) .. '],"success":[' .. put1(ka) .. "," ..
      put1(kb) .. "]}")
  end
end

function request()
  if op == "txn" then
    local a = math.random(1, keyspace)
    local b = a % keyspace + 1
    return txn(a, b)
  end
  if op == "put" then return put(math.random(1, keyspace)) end
  if op == "get" then return get(math.random(1, readkeys), false) end
  if op == "stale" then return get(math.random(1, readkeys), true) end
  if math.random(1, 10) == 1 then return put(math.random(1, keyspace)) end
  return get(math.random(1, readkeys), false)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'RESULT {"requests":%d,"durationUs":%d,"p50Us":%d,"p99Us":%d,"p999Us":%d,"meanUs":%.1f,' ..
    '"errConnect":%d,"errRead":%d,"errWrite":%d,"errStatus":%d,"errTimeout":%d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    latency:percentile(99.9), latency.mean, e.connect, e.read, e.write, e.status, e.timeout))
end
