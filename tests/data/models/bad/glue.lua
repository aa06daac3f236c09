-- glue.lua - test-only glue for tests/integration/test_http.sh: one method
-- per way a glue can go wrong, and good ones to check the worker lives on.

local M = {}

-- The correct path: the linear model's probabilities for {"x": [4 numbers]}.
function M.ok(req)
  local out = model:infer{ x = tensor.new("FP32", { 1, 4 }, req.json.x) }
  return { y = out.probs:totable()[1], label = out.probs:argmax() - 1 }
end

M.predict = M.ok

-- A runtime error: 500 carrying "boom" and this file's line.
function M.boom(req)
  error("boom")
end

-- Never ends: stopped by the instruction budget.
function M.spin(req)
  local n = 0
  while true do
    n = n + 1
  end
end

-- Allocates without bound: stopped by the memory cap.
function M.hog(req)
  local t = {}
  local i = 0
  while true do
    i = i + 1
    t[i] = string.rep("x", 65536) .. i
  end
end

-- Integers where the model declares FP32: 400 naming both dtypes.
function M.dtype(req)
  return model:infer{ x = tensor.new("INT64", { 1, 4 }, { 1, 2, 3, 4 }) }
end

-- Five features where the model declares [-1, 4]: 400 naming both shapes.
function M.shape(req)
  return model:infer{ x = tensor.new("FP32", { 1, 5 }, { 1, 2, 3, 4, 5 }) }
end

-- Changed by the reload test.
function M.version(req)
  return { glue = 1 }
end

-- Defined but not listed in the manifest's "public": 404 over HTTP.
function M.secret(req)
  return { secret = true }
end

return M
