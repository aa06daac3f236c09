-- glue.lua - the HTTP method of the `breast_cancer` model: is a breast
-- tumour benign or malignant, from 30 measurements of its cell nuclei
-- (scikit-learn's Wisconsin breast cancer data). The xgboost plugin returns
-- the probability of "benign"; this script reads the request in one of
-- three forms and shapes the answer.
--
--   POST /models/breast_cancer  {"features": [30 numbers]}          one row
--     -> {"p_benign": 0.98, "label": "benign"}
--   POST /models/breast_cancer  {"rows": [[30 numbers], ...]}       a batch
--     -> {"p_benign": [0.98, 0.01], "label": ["benign", "malignant"]}
--   POST /models/breast_cancer  {"named": {"mean radius": 13.5, ...}}
--     -> as for one row; the names are the data set's (FEATURES below)
--
-- A null value, or a name left out of "named", is a missing value (NaN):
-- the model's options.missing decides whether XGBoost may take it ("nan")
-- or the request is refused with a 400 naming the feature ("error").

local N = 30
-- sklearn.datasets.load_breast_cancer().feature_names, in the booster's order
local FEATURES = {
  "mean radius", "mean texture", "mean perimeter", "mean area",
  "mean smoothness", "mean compactness", "mean concavity",
  "mean concave points", "mean symmetry", "mean fractal dimension",
  "radius error", "texture error", "perimeter error", "area error",
  "smoothness error", "compactness error", "concavity error",
  "concave points error", "symmetry error", "fractal dimension error",
  "worst radius", "worst texture", "worst perimeter", "worst area",
  "worst smoothness", "worst compactness", "worst concavity",
  "worst concave points", "worst symmetry", "worst fractal dimension",
}
local INDEX = {}
for i, name in ipairs(FEATURES) do
  INDEX[name] = i
end
local NAN = 0 / 0

-- Appends the 30 values of row (a JSON array) to flat; what names the row
-- in messages. null becomes NaN.
local function add_row(flat, row, what)
  if type(row) ~= "table" or #row ~= N then
    local got = type(row) == "table" and string.format("%d values", #row) or type(row)
    cs.error(400, string.format("'%s' must be an array of %d numbers, got %s", what, N, got))
  end
  for i = 1, N do
    local v = row[i]
    if v == cs.null then
      v = NAN
    elseif type(v) ~= "number" then
      cs.error(400, string.format("'%s[%d]' ('%s') must be a number or null, got %s",
        what, i - 1, FEATURES[i], type(v)))
    end
    flat[#flat + 1] = v
  end
end

-- The 30 values of a {"name": value} object, in the booster's order.
local function named_row(named)
  if type(named) ~= "table" or #named > 0 then
    cs.error(400, "field 'named' must be an object of feature name -> number")
  end
  local row = {}
  for i = 1, N do
    row[i] = cs.null
  end
  for name, v in pairs(named) do
    local i = INDEX[name]
    if not i then
      cs.error(400, string.format("field 'named': unknown feature '%s' (expected one of the %d names of scikit-learn's load_breast_cancer().feature_names, e.g. 'mean radius')", tostring(name), N))
    end
    row[i] = v
  end
  return row
end

local function label(p)
  return p >= 0.5 and "benign" or "malignant"
end

-- The FP32 [rows, 30] tensor of values (a row, or an array of rows) when
-- they are all plain numbers: tensor.new reads them in C. nil when it
-- refuses them (a null, a string, a row of the wrong length); the caller
-- then goes value by value, for NaN or for a 400 naming row and feature.
local function fast_tensor(rows, values)
  local ok, x = pcall(tensor.new, "FP32", { rows, N }, values)
  return ok and x or nil
end

local M = {}

function M.predict(req)
  local body = req.json
  if type(body) ~= "table" then
    cs.error(400, "the body must be a JSON object with 'features', 'rows' or 'named'")
  end
  local x, rows = nil, 1
  local flat = {}
  if body.rows ~= nil then
    if type(body.rows) ~= "table" or #body.rows == 0 then
      cs.error(400, "field 'rows' must be a non-empty array of rows of 30 numbers")
    end
    rows = #body.rows
    x = fast_tensor(rows, body.rows)
    if not x then
      for r = 1, rows do
        add_row(flat, body.rows[r], string.format("rows[%d]", r - 1))
      end
    end
  elseif body.named ~= nil then
    add_row(flat, named_row(body.named), "named")
  elseif body.features ~= nil then
    x = fast_tensor(1, body.features)
    if not x then
      add_row(flat, body.features, "features")
    end
  else
    cs.error(400, "the body must have 'features' (one row), 'rows' (a batch) or 'named' (feature name -> value)")
  end

  local out = model:infer{ features = x or tensor.new("FP32", { rows, N }, flat) }
  local p = out.probability:totable()
  if body.rows == nil then
    return { p_benign = p[1], label = label(p[1]) }
  end
  local labels = {}
  for i = 1, #p do
    labels[i] = label(p[i])
  end
  return { p_benign = p, label = labels }
end

return M
