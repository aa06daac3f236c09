-- glue.lua - the mobilenet_image model: an image in, the top-5 classes out.
--
--   POST /models/mobilenet_image            the JPEG or PNG as the body
--        (Content-Type image/jpeg or image/png), or a multipart/form-data
--        upload (the first file), or JSON {"image": "<base64>"}
--   POST /models/mobilenet_image/api/file/predict   (CubeAI: the file in
--        the field "predict"), /api/stream/predict (the raw bytes)
--   POST /v2/models/mobilenet_image/infer   a BYTES input "image" holding
--        the encoded image (the v2 hook below)
--     -> {"top5": [{"label": "iPod", "index": 605, "score": 0.72}, ...]}
--
-- Preprocessing is torchvision's ImageNet one: Resize(256) (bilinear, the
-- shorter side), CenterCrop(224), ToTensor, Normalize.

local labels = {}
for line in cs.model_file("labels.txt"):gmatch("[^\n]+") do
  labels[#labels + 1] = line
end
local MEAN, STD = { 0.485, 0.456, 0.406 }, { 0.229, 0.224, 0.225 }

-- The softmax over the classes of an encoded image.
local function classify(bytes)
  local img = image.decode(bytes):resize(256):center_crop(224)
  local out = model:infer{ input = img:to_tensor{ mean = MEAN, std = STD } }
  return out.logits:softmax()
end

local function top5(p)
  local scores, idx = p:topk(5)
  local top = cs.array()
  for i = 1, #scores do
    top[i] = { label = labels[idx[i]], index = idx[i] - 1, score = scores[i] }
  end
  return top
end

local M = {}

function M.predict(req)
  return { top5 = top5(classify(cs.input_bytes(req))) }
end

function M.v2(inputs)
  if not inputs.image then
    cs.error(400, "expected a BYTES input 'image' holding a JPEG or PNG")
  end
  return { probs = classify(inputs.image) }
end

return M
