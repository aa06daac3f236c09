/*
 * infer.c - the one inference call (see infer.h).
 */
#include <time.h>

#include "core/clock.h"
#include "model/infer.h"

cs_status cs_infer(const cs_infer_ctx *ctx, const cs_tensor *inputs,
		   size_t n_inputs, cs_tensor *outputs, cs_arena *arena,
		   char *err, size_t errlen)
{
	double t0 = cs_clock_mono();
	cs_status rc;

	if (ctx->sched) {
		rc = ctx->sched(ctx->sched_arg, inputs, n_inputs, outputs, arena,
				ctx->deadline, err, errlen);
	} else if (ctx->batcher) {
		struct timespec dl;

		if (ctx->deadline > 0)
			dl = cs_clock_timespec(ctx->deadline);
		rc = cs_batcher_infer(ctx->batcher, inputs, n_inputs, outputs,
				      arena, ctx->deadline > 0 ? &dl : NULL,
				      err, errlen);
	} else {
		rc = cs_model_infer(ctx->model, inputs, n_inputs, outputs, arena,
				    err, errlen);
	}
	if (ctx->observe)
		ctx->observe(ctx->observe_arg, cs_clock_mono() - t0);
	return rc;
}
