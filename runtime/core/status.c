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
	case CS_EMETHOD: return "method not allowed";
	case CS_EMEDIA: return "unsupported media type";
	case CS_EHEADERS: return "request headers too large";
	case CS_EAUTH: return "unauthorized";
	case CS_EFORBIDDEN: return "forbidden";
	case CS_ERATE: return "rate limited";
	case CS_ECONFLICT: return "conflict";
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
	case CS_EMETHOD: return 405;
	case CS_EMEDIA: return 415;
	case CS_EHEADERS: return 431;
	case CS_EAUTH: return 401;
	case CS_EFORBIDDEN: return 403;
	case CS_ERATE: return 429;
	case CS_ECONFLICT: return 409;
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
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 401: return "Unauthorized";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 409: return "Conflict";
	case 411: return "Length Required";
	case 413: return "Payload Too Large";
	case 415: return "Unsupported Media Type";
	case 422: return "Unprocessable Entity";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	default: return "Unknown";
	}
}
