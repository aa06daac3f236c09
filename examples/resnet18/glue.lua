-- glue.lua - the HTTP method of an ImageNet-shaped classifier (the resnet18
-- and mobilenetv2 examples, onnx and torch manifests): one image, 3x224x224
-- FP32 values already normalized, channel by channel (C, H, W order), as a
-- JSON array or as the raw little-endian bytes of the body.
--
--   POST /models/NAME  {"image": [150528 numbers]}
--   POST /models/NAME  (Content-Type: application/octet-stream, 602112 bytes)
--     -> {"class": 417, "top5": [{"class": 417, "p": 0.21}, ...]}
--
-- The weights are random (examples/torchvision_export.py): the classes mean
-- nothing; the example shows the architectures served.

local N = 3 * 224 * 224

local function image_tensor(req)
  local ct = req.headers["content-type"] or ""
  if ct:find("application/octet-stream", 1, true) then
    if #req.body ~= N * 4 then
      cs.error(400, string.format("the body must be %d bytes (3x224x224 FP32), got %d", N * 4, #req.body))
    end
    return tensor.new("FP32", { 1, 3, 224, 224 }, req.body)
  end
  local body = req.json
  local px = type(body) == "table" and body.image or nil
  if type(px) ~= "table" or #px ~= N then
    cs.error(400, "field 'image' must be an array of 150528 numbers (3x224x224, C, H, W order)")
  end
  return tensor.new("FP32", { 1, 3, 224, 224 }, px)
end

local M = {}

function M.predict(req)
  local out = model:infer{ image = image_tensor(req) }
  local p = out.logits:softmax()
  local values, indices = p:topk(5)
  local top5 = {}
  for i = 1, #values do
    top5[i] = { class = indices[i] - 1, p = values[i] }
  end
  return { class = indices[1] - 1, top5 = top5 }
end

return M
