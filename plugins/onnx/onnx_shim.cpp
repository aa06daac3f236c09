// onnx_shim.cpp - the only C++ of the onnx plugin: OpenCV DNN behind the C
// calls of onnx_shim.h. Every entry catches every exception.

#include "onnx_shim.h"

#include <cstdio>
#include <cstring>
#include <exception>
#include <new>
#include <string>
#include <vector>

#include <opencv2/core.hpp>
#include <opencv2/dnn.hpp>

struct cs__onnx_net {
	cv::dnn::Net net;
};

namespace {

// One line of text into err: OpenCV's messages may span lines.
void set_err(char *err, size_t errlen, const std::string &msg)
{
	if (!err || errlen == 0)
		return;
	std::snprintf(err, errlen, "%s", msg.c_str());
	for (char *p = err; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
}

// OpenCV's own reason without the source path: "(-5:Bad argument) ...".
std::string cv_reason(const cv::Exception &e)
{
	std::string s = "OpenCV: " + e.err;
	if (!e.func.empty())
		s += " (in " + e.func + ")";
	return s;
}

} // namespace

extern "C" int cs__onnx_net_new(const void *buf, size_t len, int threads,
				cs__onnx_net **out, char *err, size_t errlen)
{
	try {
		cv::setNumThreads(threads > 0 ? threads : 1);
		cv::dnn::Net net = cv::dnn::readNetFromONNX(
			static_cast<const char *>(buf), len);
		if (net.empty()) {
			set_err(err, errlen, "OpenCV: the model has no layers");
			return CS_EFORMAT;
		}
		net.setPreferableBackend(cv::dnn::DNN_BACKEND_OPENCV);
		net.setPreferableTarget(cv::dnn::DNN_TARGET_CPU);
		*out = new cs__onnx_net{net};
		return CS_OK;
	} catch (const cv::Exception &e) {
		set_err(err, errlen, cv_reason(e));
		return CS_EFORMAT;
	} catch (const std::bad_alloc &) {
		set_err(err, errlen, "out of memory");
		return CS_ENOMEM;
	} catch (const std::exception &e) {
		set_err(err, errlen, std::string("OpenCV: ") + e.what());
		return CS_EFORMAT;
	} catch (...) {
		set_err(err, errlen, "OpenCV: unknown exception");
		return CS_EBACKEND;
	}
}

extern "C" int cs__onnx_net_forward(cs__onnx_net *n, const cs__onnx_blob *in,
				    size_t n_in, cs__onnx_blob *out,
				    size_t n_out, const cs_allocator *alloc,
				    char *err, size_t errlen)
{
	try {
		for (size_t i = 0; i < n_in; i++) {
			std::vector<int> dims(in[i].shape,
					      in[i].shape + in[i].ndim);
			// A header over the borrowed buffer: no copy.
			cv::Mat blob(in[i].ndim, dims.data(), CV_32F,
				     in[i].data);
			n->net.setInput(blob, in[i].name);
		}
		std::vector<cv::String> names;
		for (size_t i = 0; i < n_out; i++)
			names.emplace_back(out[i].name);
		std::vector<cv::Mat> mats;
		n->net.forward(mats, names);
		if (mats.size() != n_out) {
			set_err(err, errlen, "OpenCV returned " +
					std::to_string(mats.size()) +
					" outputs, expected " +
					std::to_string(n_out));
			return CS_EBACKEND;
		}
		for (size_t i = 0; i < n_out; i++) {
			cv::Mat m = mats[i];
			if (m.type() != CV_32F)
				m.convertTo(m, CV_32F);
			if (!m.isContinuous())
				m = m.clone();
			if (m.dims > CS_MAX_DIMS) {
				set_err(err, errlen, std::string("output '") +
						out[i].name + "' has too many dimensions");
				return CS_EUNSUPPORTED;
			}
			out[i].ndim = m.dims;
			for (int d = 0; d < m.dims; d++)
				out[i].shape[d] = m.size[d];
			size_t bytes = m.total() * sizeof(float);
			void *p = alloc->alloc(alloc->ctx, bytes ? bytes : 1);
			if (!p) {
				set_err(err, errlen, "out of memory");
				return CS_ENOMEM;
			}
			std::memcpy(p, m.ptr<float>(), bytes);
			out[i].data = static_cast<float *>(p);
		}
		return CS_OK;
	} catch (const cv::Exception &e) {
		set_err(err, errlen, cv_reason(e));
		return CS_EBACKEND;
	} catch (const std::bad_alloc &) {
		set_err(err, errlen, "out of memory");
		return CS_ENOMEM;
	} catch (const std::exception &e) {
		set_err(err, errlen, std::string("OpenCV: ") + e.what());
		return CS_EBACKEND;
	} catch (...) {
		set_err(err, errlen, "OpenCV: unknown exception");
		return CS_EBACKEND;
	}
}

extern "C" void cs__onnx_net_free(cs__onnx_net *n)
{
	try {
		delete n;
	} catch (...) {
		// A destructor that throws: nothing to report to, nothing to do.
	}
}
