-- glue.lua - the HTTP methods of the `linear` model: iris species from the
-- four flower measurements (sepal length, sepal width, petal length, petal
-- width, in cm). The native plugin computes the logits and probabilities;
-- this script checks the request and shapes the answer.
--
--   POST /models/linear/predict        {"x": [5.1, 3.5, 1.4, 0.2]}
--     -> {"y": [p0, p1, p2], "label": 0, "species": "setosa"}
--   POST /models/linear/predict_batch  {"x": [[5.1, 3.5, 1.4, 0.2], ...]}
--     -> {"y": [[p0, p1, p2], ...], "label": [0, ...]}

local FEATURES = 4
local SPECIES = { "setosa", "versicolor", "virginica" } -- weights.json "labels"

-- Whether v is an array of FEATURES numbers.
local function is_row(v)
  if type(v) ~= "table" or #v ~= FEATURES then
    return false
  end
  for i = 1, FEATURES do
    if type(v[i]) ~= "number" then
      return false
    end
  end
  return true
end

-- The 0-based index of the largest value of a Lua array.
local function argmax0(p)
  local best = 1
  for i = 2, #p do
    if p[i] > p[best] then
      best = i
    end
  end
  return best - 1
end

-- The body's field "x", or nil when the body is not a JSON object.
local function field_x(req)
  local body = req.json
  return type(body) == "table" and body.x or nil
end

local M = {}

function M.predict(req)
  local x = field_x(req)
  if not is_row(x) then
    cs.error(400, "field 'x' must be an array of 4 numbers")
  end
  local out = model:infer{ x = tensor.new("FP32", { 1, FEATURES }, x) }
  local label = out.probs:argmax() - 1
  return { y = out.probs:totable()[1], label = label, species = SPECIES[label + 1] }
end

function M.predict_batch(req)
  local rows = field_x(req)
  if type(rows) ~= "table" or #rows == 0 then
    cs.error(400, "field 'x' must be a non-empty array of rows of 4 numbers")
  end
  local flat = {}
  for i = 1, #rows do
    if not is_row(rows[i]) then
      cs.error(400, string.format("field 'x[%d]' must be an array of 4 numbers", i - 1))
    end
    table.move(rows[i], 1, FEATURES, #flat + 1, flat)
  end
  local out = model:infer{ x = tensor.new("FP32", { #rows, FEATURES }, flat) }
  local y = out.probs:totable()
  local labels = {}
  for i = 1, #y do
    labels[i] = argmax0(y[i])
  end
  return { y = y, label = labels }
end

return M
