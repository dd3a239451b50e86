// __activemask() and warp collectives over the lanes it names.
// launch active: active_sum 1 32 -- i32[32]:2 i32[32] => clean
// launch full_mask_bug: full_mask_in_branch 1 32 -- i32[32]:2 i32[32] => error collective-mask

// out[i] = x[i] read through a shuffle over the lanes active with i (the even lanes, in a
// branch: __activemask() names at least the lane itself).
extern "C" __global__ void active_sum(const int *x, int *out) {
    unsigned i = threadIdx.x;
    if (i % 2 == 0) {
        unsigned m = __activemask();
        out[i] = __shfl_sync(m, x[i], i % 32) + __popc(m & (1u << (i % 32)));
    }
}

// BUG: a full-warp shuffle inside a branch only half the lanes take (the mask names lanes
// that have left).
extern "C" __global__ void full_mask_in_branch(const int *x, int *out) {
    unsigned i = threadIdx.x;
    if (i % 2 == 0) out[i] = __shfl_down_sync(0xffffffffu, x[i], 1);
}
