-- glue.lua - test-only glue for tests/integration/test_image_inputs.sh: each
-- method reports what the request brought, so the test can check how files,
-- fields, base64 and images reach the glue.
local M = {}

-- A file as the answer shows it: its metadata and the first bytes in base64.
local function describe(f)
  return { name = f.name, filename = f.filename, content_type = f.content_type,
           size = #f.data, head = cs.base64_encode(f.data:sub(1, 8)) }
end

-- req.files (in order, and by field name), req.form, req.file.
function M.files(req)
  local files = cs.array()
  for i, f in ipairs(req.files) do
    files[i] = describe(f)
  end
  local form = {}
  for k, v in pairs(req.form) do
    form[k] = v
  end
  local first = req.file
  return { files = files, form = form, first = first and describe(first) or cs.null,
           by_name = req.files.photo and describe(req.files.photo) or cs.null,
           content_type = req.content_type }
end

-- cs.base64_decode of the JSON field "data": size and the bytes re-encoded.
function M.b64(req)
  local s = cs.base64_decode(req.json.data)
  return { size = #s, again = cs.base64_encode(s) }
end

-- The image of the request, however it came (?field=NAME picks the field).
function M.info(req)
  local field = req.query:match("field=([%w_]+)")
  local bytes, ct, filename = cs.input_bytes(req, field)
  local im = image.decode(bytes)
  return { width = im.width, height = im.height, channels = im.channels,
           content_type = ct, filename = filename, size = #bytes }
end

-- A 32x24 thumbnail, as PNG bytes.
function M.thumb(req)
  local im = image.decode(cs.input_bytes(req)):resize(32, 24)
  return im:to_png(), "image/png"
end

-- The envelope's arguments back (api/model kwargs, api/data args).
function M.echo(req)
  return { args = req.json, n_files = #req.files }
end

-- V2: a BYTES input "image" decoded; its size as an INT64 tensor.
function M.v2(inputs)
  local im = image.decode(inputs.image)
  return { size = tensor.new("INT64", { 3 }, { im.height, im.width, im.channels }) }
end

return M
