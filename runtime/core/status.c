/*
 * status.c - cs_status text and HTTP mapping (see status.h).
 */
#include "core/status.h"

const char *cs_strerror(int status)
{
	switch (status) {
	case CS_OK: return "ok";
	case CS_EINVAL: return "invalid input";
	case CS_ENOMEM: return "out of memory";
	case CS_EIO: return "i/o error";
	case CS_EFORMAT: return "bad file format";
	case CS_EBACKEND: return "backend failure";
	case CS_EUNSUPPORTED: return "not supported";
	case CS_ENOTFOUND: return "not found";
	case CS_ETOOLARGE: return "too large";
	case CS_ETIMEOUT: return "timed out";
	case CS_EABI: return "plugin ABI mismatch";
	case CS_ELIMIT: return "over a glue budget";
	case CS_EUNAVAILABLE: return "unavailable";
	default: return "unknown error";
	}
}

int cs_status_http(int status)
{
	switch (status) {
	case CS_OK: return 200;
	case CS_EINVAL:
	case CS_EUNSUPPORTED: return 400;
	case CS_ENOTFOUND: return 404;
	case CS_ETOOLARGE: return 413;
	case CS_ETIMEOUT: return 504;
	case CS_EUNAVAILABLE: return 503;
	default: return 500;
	}
}

const char *cs_http_reason(int http_status)
{
	switch (http_status) {
	case 200: return "OK";
	case 201: return "Created";
	case 204: return "No Content";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 411: return "Length Required";
	case 413: return "Payload Too Large";
	case 415: return "Unsupported Media Type";
	case 422: return "Unprocessable Entity";
	case 429: return "Too Many Requests";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	default: return "Unknown";
	}
}
