// Block barriers by the ISA's rules: the `if (i >= n) return; ... __syncthreads()` idiom
// (exited threads release a barrier for all threads: a note, an error under --strict), a
// barrier some threads of a warp skip, and same-value writes of many threads to one word.
// launch early_exit: early_exit 1 64 -- f32[64]:1 f32[64] u32:40 => note barrier-released-by-exit
// launch early_exit_strict: early_exit 1 64 strict -- f32[64]:1 f32[64] u32:40 => error barrier-divergence
// launch flag: set_flag 1 64 -- f32[64]:1 i32[1] => note same-value-writes
// launch flag_strict: set_flag 1 64 strict -- f32[64]:1 i32[1] => error same-value-writes
// launch flag_bug: set_last 1 64 -- f32[64]:1 i32[1] => error global-race
// launch skip_bug: skip_barrier 1 64 -- f32[64] => error shared-race
// launch skip_bug_strict: skip_barrier 1 64 strict -- f32[64] => error barrier-divergence

// out[i] = in[(i + 1) % n] for i < n, through shared memory; threads i >= n return first.
extern "C" __global__ void early_exit(const float *in, float *out, unsigned n) {
    __shared__ float s[1024];
    unsigned i = threadIdx.x;
    if (i >= n) return;
    s[i] = in[i];
    __syncthreads();
    out[i] = s[(i + 1) % n];
}

// flag[0] = 1 when any x[i] > 0: every such thread writes the same value (benign).
extern "C" __global__ void set_flag(const float *x, int *flag) {
    if (x[threadIdx.x] > 0.0f) *flag = 1;
}

// BUG: flag[0] = the index of some thread with x[i] > 0: different values race.
extern "C" __global__ void set_last(const float *x, int *flag) {
    if (x[threadIdx.x] > 0.0f) *flag = threadIdx.x;
}

// BUG: odd threads skip the barrier and read what others have not yet written (under the
// ISA their exit releases the barrier the even threads wait at: a note; the read races).
extern "C" __global__ void skip_barrier(float *out) {
    __shared__ float s[64];
    unsigned i = threadIdx.x;
    s[i] = i;
    if (i % 2 == 0) __syncthreads();
    out[i] = s[63 - i];
}
