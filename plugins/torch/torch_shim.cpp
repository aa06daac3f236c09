// torch_shim.cpp - the only C++ of the torch plugin: libtorch behind the C
// calls of torch_shim.h. Every entry catches every exception.

#include "torch_shim.h"

#include <dlfcn.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <new>
#include <string>
#include <vector>

#include <ATen/Parallel.h>
#include <torch/script.h>

struct cs__torch_module {
	torch::jit::Module module;
};

namespace {

// One line into err.
void set_err(char *err, size_t errlen, const std::string &msg)
{
	if (!err || errlen == 0)
		return;
	std::snprintf(err, errlen, "%s", msg.c_str());
	char *nl = std::strpbrk(err, "\r\n");
	if (nl)
		*nl = '\0';
}

// The line of a libtorch message that says what went wrong. Most say it
// first; the TorchScript interpreter (which throws std::runtime_error)
// says it last, after a TorchScript traceback: "RuntimeError: ...".
std::string torch_reason(const std::string &msg)
{
	size_t end = msg.find_last_not_of("\r\n ");
	if (msg.rfind("The following operation failed", 0) != 0 ||
	    end == std::string::npos)
		return "libtorch: " + msg;
	size_t start = msg.find_last_of('\n', end);
	start = start == std::string::npos ? 0 : start + 1;
	return "libtorch: " + msg.substr(start, end + 1 - start);
}

// c10::Error::what() adds a C++ backtrace; what_without_backtrace() not.
std::string torch_reason(const c10::Error &e)
{
	return torch_reason(std::string(e.what_without_backtrace()));
}

bool to_scalar_type(cs_dtype t, at::ScalarType *s)
{
	switch (t) {
	case CS_BOOL: *s = at::kBool; return true;
	case CS_UINT8: *s = at::kByte; return true;
	case CS_INT8: *s = at::kChar; return true;
	case CS_INT16: *s = at::kShort; return true;
	case CS_INT32: *s = at::kInt; return true;
	case CS_INT64: *s = at::kLong; return true;
	case CS_FP16: *s = at::kHalf; return true;
	case CS_FP32: *s = at::kFloat; return true;
	case CS_FP64: *s = at::kDouble; return true;
	default: return false;
	}
}

cs_dtype from_scalar_type(at::ScalarType s)
{
	switch (s) {
	case at::kBool: return CS_BOOL;
	case at::kByte: return CS_UINT8;
	case at::kChar: return CS_INT8;
	case at::kShort: return CS_INT16;
	case at::kInt: return CS_INT32;
	case at::kLong: return CS_INT64;
	case at::kHalf: return CS_FP16;
	case at::kFloat: return CS_FP32;
	case at::kDouble: return CS_FP64;
	default: return CS_DTYPE_INVALID;
	}
}

// Copies one result tensor into runtime memory.
int copy_out(const at::Tensor &result, size_t i, cs_tensor *out,
	     const cs_allocator *alloc, char *err, size_t errlen)
{
	at::Tensor t = result.contiguous();
	cs_dtype dt = from_scalar_type(t.scalar_type());

	if (dt == CS_DTYPE_INVALID || t.dim() > CS_MAX_DIMS) {
		set_err(err, errlen, "output " + std::to_string(i) +
				" is a " + std::string(c10::toString(t.scalar_type())) +
				" tensor of " + std::to_string(t.dim()) +
				" dimensions, which cubeserve cannot return");
		return CS_EUNSUPPORTED;
	}
	out->dtype = dt;
	out->ndim = static_cast<int32_t>(t.dim());
	for (int64_t d = 0; d < t.dim(); d++)
		out->shape[d] = t.size(d);
	out->nbytes = t.nbytes();
	out->data = alloc->alloc(alloc->ctx, out->nbytes ? out->nbytes : 1);
	if (!out->data) {
		set_err(err, errlen, "out of memory");
		return CS_ENOMEM;
	}
	std::memcpy(out->data, t.data_ptr(), out->nbytes);
	return CS_OK;
}

// Debian's libtorch calls BLAS through libblas.so.3, which may be
// OpenBLAS (docs/backends.md). OpenBLAS starts one thread per core unless
// told: give it the same count as libtorch, when it is the one loaded.
void set_blas_threads(int n)
{
	static void (*set)(int);
	static bool looked;

	if (!looked) {
		looked = true;
		void *h = dlopen("libblas.so.3", RTLD_LAZY | RTLD_NOLOAD);
		void *sym = h ? dlsym(h, "openblas_set_num_threads") : nullptr;
		std::memcpy(&set, &sym, sizeof set);
	}
	if (set)
		set(n);
}

void set_threads(int n)
{
	at::set_num_threads(n);
	set_blas_threads(n);
}

} // namespace

extern "C" int cs__torch_module_load(const char *path, bool optimize, cs__torch_module **out,
				     char **signature, char *err,
				     size_t errlen)
{
	static bool interop_set;
	cs__torch_module *m = nullptr;

	try {
		// Load on one thread: see torch_shim.h.
		set_threads(1);
		if (!interop_set) {
			interop_set = true;
			try {
				// Only settable before the first inter-op use.
				at::set_num_interop_threads(1);
			} catch (const std::exception &) {
			}
		}
		torch::jit::ExtraFilesMap extra{{CS_TORCH_SIGNATURE_FILE, ""}};
		m = new cs__torch_module{
			torch::jit::load(path, torch::kCPU, extra)};
		m->module.eval();
		if (optimize)
			m->module = torch::jit::optimize_for_inference(m->module);
		const std::string &sig = extra[CS_TORCH_SIGNATURE_FILE];
		*signature = nullptr;
		if (!sig.empty()) {
			*signature = static_cast<char *>(std::malloc(sig.size() + 1));
			if (!*signature)
				throw std::bad_alloc();
			std::memcpy(*signature, sig.c_str(), sig.size() + 1);
		}
		*out = m;
		return CS_OK;
	} catch (const c10::Error &e) {
		set_err(err, errlen, torch_reason(e));
	} catch (const std::bad_alloc &) {
		delete m;
		set_err(err, errlen, "out of memory");
		return CS_ENOMEM;
	} catch (const std::exception &e) {
		set_err(err, errlen, torch_reason(std::string(e.what())));
	} catch (...) {
		set_err(err, errlen, "libtorch: unknown exception");
	}
	delete m;
	return CS_EFORMAT;
}

extern "C" int cs__torch_module_forward(cs__torch_module *m, int threads,
					const cs_tensor *in, size_t n_in,
					cs_tensor *out, size_t n_out,
					const cs_allocator *alloc, char *err,
					size_t errlen)
{
	try {
		threads = threads > 0 ? threads : 1;
		if (at::get_num_threads() != threads)
			set_threads(threads);
		c10::InferenceMode guard;
		std::vector<torch::jit::IValue> args;
		args.reserve(n_in);
		for (size_t i = 0; i < n_in; i++) {
			at::ScalarType st;
			if (!to_scalar_type(in[i].dtype, &st)) {
				set_err(err, errlen, "input " + std::to_string(i) +
						": libtorch has no such dtype");
				return CS_EUNSUPPORTED;
			}
			std::vector<int64_t> shape(in[i].shape,
						   in[i].shape + in[i].ndim);
			// A view of the borrowed buffer: no copy.
			args.emplace_back(torch::from_blob(in[i].data, shape,
					torch::TensorOptions().dtype(st)));
		}
		torch::jit::IValue r = m->module.forward(args);

		std::vector<at::Tensor> results;
		if (r.isTensor()) {
			results.push_back(r.toTensor());
		} else if (r.isTuple()) {
			for (const auto &v : r.toTupleRef().elements())
				results.push_back(v.toTensor());
		} else if (r.isTensorList()) {
			for (const at::Tensor &t : r.toTensorVector())
				results.push_back(t);
		} else {
			set_err(err, errlen, "forward() returned a " +
					r.tagKind() + ", not a tensor or a "
					"tuple of tensors");
			return CS_EUNSUPPORTED;
		}
		if (results.size() != n_out) {
			set_err(err, errlen, "forward() returned " +
					std::to_string(results.size()) +
					" tensors, the signature declares " +
					std::to_string(n_out));
			return CS_EBACKEND;
		}
		for (size_t i = 0; i < n_out; i++) {
			int rc = copy_out(results[i], i, &out[i], alloc, err,
					  errlen);
			if (rc != CS_OK)
				return rc;
		}
		return CS_OK;
	} catch (const c10::Error &e) {
		set_err(err, errlen, torch_reason(e));
	} catch (const std::bad_alloc &) {
		set_err(err, errlen, "out of memory");
		return CS_ENOMEM;
	} catch (const std::exception &e) {
		set_err(err, errlen, torch_reason(std::string(e.what())));
	} catch (...) {
		set_err(err, errlen, "libtorch: unknown exception");
	}
	return CS_EBACKEND;
}

extern "C" void cs__torch_module_free(cs__torch_module *m)
{
	try {
		delete m;
	} catch (...) {
		// A destructor that throws: nothing to report to, nothing to do.
	}
}
