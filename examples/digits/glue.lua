-- glue.lua - the HTTP method of the `digits` model (both manifests: onnx and
-- torch): the digit 0-9 in an 8x8 grey image, pixel values 0..16 row by row
-- (scikit-learn's digits). The model scales the pixels itself and returns
-- logits; this script checks the request and shapes the answer.
--
--   POST /models/digits  {"pixels": [64 numbers 0..16]}
--     -> {"digit": 6, "confidence": 0.99, "top3": [{"digit": 6, "p": 0.99}, ...]}

local N_PIXELS = 64
local MAX_VALUE = 16

-- Raises a 400 unless px is an array of 64 numbers in 0..16.
local function check_pixels(px)
  if type(px) ~= "table" or #px ~= N_PIXELS then
    cs.error(400, "field 'pixels' must be an array of 64 numbers 0..16 (8x8, row by row)")
  end
  for i = 1, N_PIXELS do
    local v = px[i]
    if type(v) ~= "number" or v ~= v or v < 0 or v > MAX_VALUE then
      cs.error(400, string.format("pixels[%d] must be a number 0..16, got %s", i - 1, tostring(v)))
    end
  end
end

local M = {}

function M.predict(req)
  local body = req.json
  local px = type(body) == "table" and body.pixels or nil
  check_pixels(px)
  local out = model:infer{ image = tensor.new("FP32", { 1, 1, 8, 8 }, px) }
  local p = out.logits:softmax()
  local values, indices = p:topk(3)
  local top3 = {}
  for i = 1, #values do
    top3[i] = { digit = indices[i] - 1, p = values[i] }
  end
  return { digit = indices[1] - 1, confidence = values[1], top3 = top3 }
end

return M
