-- glue.lua - test-only glue for tests/integration/test_v2.sh.
--
-- v2(inputs, params): the V2 hook. Echoes every input tensor back as an
-- output named "<input>_out", except "x", which goes through the model
-- (so the hook is also shown calling model:infer). Request parameter
-- "fail" makes it raise a 400; response parameters echo "tag".
local M = {}

function M.v2(inputs, params)
  if params.fail then
    cs.error(400, "the v2 hook was asked to fail")
  end
  local out = {}
  for name, t in pairs(inputs) do
    if name == "x" then
      local r = model:infer{ x = t }
      out.probs = r.probs
      out.logits = r.logits
    else
      out[name .. "_out"] = t
    end
  end
  local rp = nil
  if params.tag ~= nil then
    rp = { tag = params.tag }
  end
  return out, rp
end

-- The envelope: kwargs arrive as req.json.
function M.predict(req)
  local x = req.json.x
  if type(x) ~= "table" or #x ~= 4 then
    cs.error(400, "kwarg 'x' must be an array of 4 numbers")
  end
  local out = model:infer{ x = tensor.new("FP32", { 1, 4 }, x) }
  return { label = out.probs:argmax() - 1, y = out.probs:totable()[1] }
end

function M.echo(req)
  return { kwargs = req.json }
end

-- A method that answers raw bytes with its own content type.
function M.shout(req)
  return string.upper(req.body), "text/x-shout"
end

-- The uploaded file (api/file) or the raw body (api/stream).
function M.describe(req)
  local f = req.file or {}
  return { bytes = #req.body, name = f.name, filename = f.filename,
           content_type = f.content_type, head = string.sub(req.body, 1, 16) }
end

function M.boom(req)
  error("boom")
end

return M
