-- glue.lua - test-only glue for the event loop (tests/integration/test_evloop.sh):
-- every method infers first, so its request sits in a batch with others,
-- then does what its name says after the batch has run.

local M = {}

local function infer(req)
  local x = req.json.x
  return model:infer{ x = tensor.new("FP32", { 1, 4 }, x) }
end

-- the linear example's answer
function M.predict(req)
  local out = infer(req)
  return { y = out.probs:totable()[1], label = out.probs:argmax() - 1 }
end

-- a glue error after the inference
function M.boom(req)
  infer(req)
  error("boom after the batch")
end

-- runs until its instruction budget or its time limit stops it
function M.spin(req)
  infer(req)
  local n = 0
  while true do n = n + 1 end
end

-- grows until the memory cap stops it
function M.hog(req)
  infer(req)
  local t = {}
  for i = 1, 1e6 do t[i] = string.rep("x", 1 << 20) .. i end
  return t
end

-- a pcall inside the glue cannot swallow the budget
function M.spin_pcall(req)
  infer(req)
  pcall(function() while true do end end)
  return { swallowed = true }
end

-- infers twice: parks, resumes, parks again
function M.twice(req)
  local a = infer(req)
  local b = infer(req)
  return { same = a.probs:totable()[1][1] == b.probs:totable()[1][1] }
end

return M
