// target: sm_90
// Cooperative groups: a 64-thread tile's reduce (its scratch in the reserved shared memory,
// %reserved_smem_offset_*), and the objects <cooperative_groups/reduce.h> leaves unused.
// launch tile: tile_sum 1 128 -- i32[128]:3 i32[2] => clean
// launch tile_bug: tile_sum 1 128 -- i32[64]:3 i32[2] => error out-of-bounds
#include <cooperative_groups.h>
#include <cooperative_groups/reduce.h>
namespace cg = cooperative_groups;

// out[t] = the sum of the 64 values of tile t.
extern "C" __global__ void tile_sum(const int *in, int *out) {
    auto block = cg::this_thread_block();
    auto tile = cg::tiled_partition<64>(block);
    int s = cg::reduce(tile, in[block.thread_rank()], cg::plus<int>());
    if (tile.thread_rank() == 0) out[block.thread_rank() / 64] = s;
}
