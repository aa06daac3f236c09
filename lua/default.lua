-- default.lua: the glue of a model whose manifest names none.
--
--   POST /models/<name>  {"inputs": {"<input>": <nested array>, ...}}
--   -> {"outputs": {"<output>": <nested array>, ...}}
--
-- The shape of each input is read from its nesting (dynamic dimensions
-- included) and must fit the declared one; model:infer checks dtype and shape.
local M = {}

-- Returns the shape of a nested array: {2, 3} for {{1,2,3},{4,5,6}}.
local function nested_shape(v, name)
  local shape = {}
  while type(v) == "table" do
    shape[#shape + 1] = #v
    if #v == 0 then break end
    v = v[1]
  end
  return shape
end

function M.predict(req)
  local body = req.json
  if type(body) ~= "table" or type(body.inputs) ~= "table" then
    cs.error(400, "expected {\"inputs\": {\"<name>\": [...]}}")
  end
  local args = {}
  for _, decl in ipairs(model.inputs) do
    local v = body.inputs[decl.name]
    if v == nil then
      cs.error(400, string.format("missing input '%s' (%s, shape %s)", decl.name,
        decl.dtype, cs.json_encode(decl.shape)))
    end
    args[decl.name] = tensor.new(decl.dtype, nested_shape(v, decl.name), v)
  end
  local out = model:infer(args)
  local result = {}
  for name, t in pairs(out) do
    result[name] = t
  end
  return { outputs = result }
end

return M
