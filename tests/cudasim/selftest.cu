// cudasim's own tests: each check the emulator claims (cudasim.cpp) is shown to catch the bug it
// is for, so a GPU test that passes on the emulator has passed those checks. Built and run only
// with LSC_CUDA=SIM, translated like the backend's .cu files.
#include <cuda_runtime.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace {

__global__ void block_sum(const int *in, int *out, int n)
{
    __shared__ int s[256];
    const int t = (int)threadIdx.x;
    s[t] = t < n ? in[t] : 0;
    __syncthreads();
    for (int w = 128; w > 0; w >>= 1) {
        if (t < w) s[t] += s[t + w];
        __syncthreads();
    }
    if (t == 0) *out = s[0];
}

// the same without the barrier between the writes and thread 0's reads
__global__ void racy_sum(const int *in, int *out, int n)
{
    __shared__ int s[256];
    const int t = (int)threadIdx.x;
    s[t] = t < n ? in[t] : 0;
    if (t == 0) {
        int a = 0;
        for (int i = 0; i < 256; i++) a += s[i];
        *out = a;
    }
}

__global__ void warp_ops(int *out)
{
    const int lane = (int)threadIdx.x;
    int v = lane;
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    out[lane] = v;                                               // 496 everywhere
    out[32 + lane] = __shfl_down_sync(0xffffffffu, lane, 3);     // lane + 3, or own
    out[64 + lane] = __shfl_up_sync(0xffffffffu, lane, 2);       // lane - 2, or own
    out[96 + lane] = __shfl_sync(0xffffffffu, lane * 10, 7);     // 70
    out[128 + lane] = (int)__ballot_sync(0xffffffffu, lane & 1); // 0xaaaaaaaa
    int sw = 0;
    if (lane < 16) sw = __shfl_xor_sync(0x0000ffffu, lane, 1, 16); // a half warp: pairs swapped
    out[160 + lane] = sw;
}

__global__ void half_warp_exits(int *out)
{
    const int lane = (int)threadIdx.x;
    if (lane >= 16) return;
    out[lane] = __shfl_xor_sync(0xffffffffu, lane, 1); // names 16 lanes that have left
}

__global__ void read_at(const float *p, int64_t i, float *out) { *out = p[i]; }

__global__ void split_barrier(int *out)
{
    if (threadIdx.x < 16) {
        __syncthreads(); // two different barriers for one block: undefined on a GPU
        out[threadIdx.x] = 1;
    } else {
        __syncthreads();
        out[threadIdx.x] = 2;
    }
}

__global__ void big_shared(int *out)
{
    extern __shared__ int dyn[];
    __shared__ int fixed[4096]; // 16 KiB, with 40 KiB dynamic: 56 KiB
    fixed[threadIdx.x] = (int)threadIdx.x;
    dyn[threadIdx.x] = fixed[threadIdx.x];
    *out = dyn[0];
}

__global__ void write_value(int *p, int v) { *p = v; }

__global__ void copy_value(const int *from, int *to) { *to = *from; }

__global__ void add_one(int *p) { *p += 1; }

// one float atomicAdd per block: the sum's last bits depend on the order the blocks run in
__global__ void atomic_sum(const float *v, float *out) { atomicAdd(out, v[blockIdx.x]); }

int *dev_ints(const std::vector<int> &h)
{
    int *d = nullptr;
    EXPECT_EQ(cudaMalloc((void **)&d, h.size() * sizeof(int)), cudaSuccess);
    EXPECT_EQ(cudaMemcpy(d, h.data(), h.size() * sizeof(int), cudaMemcpyHostToDevice), cudaSuccess);
    // from pageable memory the copy may still be in flight on the legacy stream, which
    // non-blocking streams do not wait for
    EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    return d;
}

int fetch(const int *d)
{
    int v = 0;
    EXPECT_EQ(cudaMemcpy(&v, d, sizeof v, cudaMemcpyDeviceToHost), cudaSuccess);
    return v;
}

class Cudasim : public ::testing::Test {
  protected:
    void SetUp() override
    {
        ASSERT_EQ(cudaSetDevice(0), cudaSuccess) << "run with LSC_SIM_DEVICES=1";
    }
    void TearDown() override { lsc_sim::set_schedule(-1, 0, 0); } // the defaults again
};

TEST_F(Cudasim, BarriersMakeABlockReductionRightInEveryOrder)
{
    std::vector<int> h(200);
    for (int i = 0; i < 200; i++) h[i] = i + 1;
    int *in = dev_ints(h), *out = dev_ints({0});
    for (int order = 0; order < 3; order++) {
        lsc_sim::set_schedule(order, 7 + order, 25);
        block_sum<<<1, 256>>>(in, out, 200);
        ASSERT_EQ(cudaGetLastError(), cudaSuccess);
        EXPECT_EQ(fetch(out), 200 * 201 / 2) << "order " << order;
    }
    cudaFree(in);
    cudaFree(out);
}

TEST_F(Cudasim, AMissingBarrierChangesTheAnswer)
{
    std::vector<int> h(200, 1);
    int *in = dev_ints(h), *out = dev_ints({0});
    // in thread order thread 0 reads before anyone else has written: shared memory starts as
    // 0xff bytes (-1 here) in every block
    lsc_sim::set_schedule(0, 1, 25);
    racy_sum<<<1, 256>>>(in, out, 200);
    EXPECT_NE(fetch(out), 200);
    // reversed, every other thread writes first and the race is hidden
    lsc_sim::set_schedule(1, 1, 25);
    racy_sum<<<1, 256>>>(in, out, 200);
    EXPECT_EQ(fetch(out), 200);
    // shuffled (the default), the answer changes from run to run
    lsc_sim::set_schedule(2, 3, 25);
    std::vector<int> seen;
    for (int i = 0; i < 8; i++) {
        racy_sum<<<1, 256>>>(in, out, 200);
        seen.push_back(fetch(out));
    }
    EXPECT_NE(*std::min_element(seen.begin(), seen.end()),
              *std::max_element(seen.begin(), seen.end()));
    cudaFree(in);
    cudaFree(out);
}

TEST_F(Cudasim, BlocksRunInAShuffledOrder)
{
    std::vector<float> h(64);
    for (int i = 0; i < 64; i++) h[i] = std::ldexp(1.0f, (i * 7) % 40 - 20) * (1.0f + i / 64.0f);
    float *v = nullptr, *out = nullptr;
    ASSERT_EQ(cudaMalloc((void **)&v, h.size() * sizeof(float)), cudaSuccess);
    ASSERT_EQ(cudaMalloc((void **)&out, sizeof(float)), cudaSuccess);
    ASSERT_EQ(cudaMemcpy(v, h.data(), h.size() * sizeof(float), cudaMemcpyHostToDevice),
              cudaSuccess);
    std::vector<float> seen;
    for (int i = 0; i < 6; i++) {
        ASSERT_EQ(cudaMemset(out, 0, sizeof(float)), cudaSuccess);
        atomic_sum<<<64, 1>>>(v, out);
        float r = 0;
        ASSERT_EQ(cudaMemcpy(&r, out, sizeof r, cudaMemcpyDeviceToHost), cudaSuccess);
        seen.push_back(r);
    }
    // a float sum in a different order each time: not bit-identical run to run, as on a GPU
    EXPECT_NE(*std::min_element(seen.begin(), seen.end()),
              *std::max_element(seen.begin(), seen.end()));
    cudaFree(v);
    cudaFree(out);
}

TEST_F(Cudasim, WarpShufflesAndBallotFollowCuda)
{
    int *out = dev_ints(std::vector<int>(192, 0));
    warp_ops<<<1, 32>>>(out);
    ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    std::vector<int> h(192);
    ASSERT_EQ(cudaMemcpy(h.data(), out, h.size() * sizeof(int), cudaMemcpyDeviceToHost),
              cudaSuccess);
    for (int l = 0; l < 32; l++) {
        EXPECT_EQ(h[l], 496);
        EXPECT_EQ(h[32 + l], l + 3 < 32 ? l + 3 : l);
        EXPECT_EQ(h[64 + l], l >= 2 ? l - 2 : l);
        EXPECT_EQ(h[96 + l], 70);
        EXPECT_EQ((unsigned)h[128 + l], 0xaaaaaaaau);
        EXPECT_EQ(h[160 + l], l < 16 ? (l ^ 1) : 0);
    }
    cudaFree(out);
}

TEST_F(Cudasim, AWarpMaskNamingExitedLanesIsReportedNotHungOn)
{
    EXPECT_EXIT(
        {
            int *out = nullptr;
            cudaMalloc((void **)&out, 32 * sizeof(int));
            half_warp_exits<<<1, 32>>>(out);
            std::exit(cudaDeviceSynchronize() == cudaErrorLaunchFailure ? 3 : 4);
        },
        ::testing::ExitedWithCode(3), "deadlock.*has exited");
}

TEST_F(Cudasim, ThreadsAtTwoDifferentBarriersAreReported)
{
    EXPECT_EXIT(
        {
            int *out = nullptr;
            cudaMalloc((void **)&out, 32 * sizeof(int));
            split_barrier<<<1, 32>>>(out);
            std::exit(cudaDeviceSynchronize() == cudaErrorLaunchFailure ? 3 : 4);
        },
        ::testing::ExitedWithCode(3), "two different __syncthreads");
}

TEST_F(Cudasim, StaticAndDynamicSharedMemoryTogetherAreLimited)
{
    EXPECT_EXIT(
        {
            int *out = nullptr;
            cudaMalloc((void **)&out, sizeof(int));
            big_shared<<<1, 32, 40 * 1024>>>(out);
            std::exit(cudaDeviceSynchronize() == cudaErrorLaunchFailure ? 3 : 4);
        },
        ::testing::ExitedWithCode(3), "static and .* dynamic shared memory, above the 48 KiB");
}

TEST_F(Cudasim, ReadingPastADeviceAllocationFaults)
{
    float *p = nullptr, *out = nullptr;
    ASSERT_EQ(cudaMalloc((void **)&p, 1024 * sizeof(float)), cudaSuccess);
    ASSERT_EQ(cudaMalloc((void **)&out, sizeof(float)), cudaSuccess);
    read_at<<<1, 1>>>(p, 1023, out); // the last element is fine
    EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    EXPECT_DEATH(
        {
            read_at<<<1, 1>>>(p, 1024, out);
            cudaDeviceSynchronize();
        },
        "out-of-bounds access at byte 4096 of the 4096-byte device allocation.*read_at");
    EXPECT_DEATH(
        {
            read_at<<<1, 1>>>(p, -1, out);
            cudaDeviceSynchronize();
        },
        "out-of-bounds access at byte -4 of the 4096-byte device allocation.*read_at");
    cudaFree(p);
    cudaFree(out);
}

TEST_F(Cudasim, HostCodeTouchingDeviceMemoryFaults)
{
    float *p = nullptr;
    ASSERT_EQ(cudaMalloc((void **)&p, 64 * sizeof(float)), cudaSuccess);
    EXPECT_DEATH({ std::printf("%g\n", (double)((volatile float *)p)[3]); },
                 "host code touched device memory");
    cudaFree(p);
}

TEST_F(Cudasim, NewDeviceMemoryIsNaN)
{
    float *p = nullptr;
    ASSERT_EQ(cudaMalloc((void **)&p, 16 * sizeof(float)), cudaSuccess);
    float h[16];
    ASSERT_EQ(cudaMemcpy(h, p, sizeof h, cudaMemcpyDeviceToHost), cudaSuccess);
    for (float v : h) EXPECT_TRUE(std::isnan(v));
    cudaFree(p);
}

TEST_F(Cudasim, AResultArrivesOnlyOnceItsStreamIsSynchronised)
{
    lsc_sim::set_schedule(2, 5, 0); // nothing runs early here
    cudaStream_t s;
    ASSERT_EQ(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), cudaSuccess);
    int *pinned = nullptr;
    ASSERT_EQ(cudaMallocHost((void **)&pinned, sizeof(int)), cudaSuccess);
    *pinned = 0;
    write_value<<<1, 1, 0, s>>>(pinned, 42);
    EXPECT_EQ(*(volatile int *)pinned, 0) << "work ran before anything waited for it";
    ASSERT_EQ(cudaStreamSynchronize(s), cudaSuccess);
    EXPECT_EQ(*(volatile int *)pinned, 42);
    // a copy from pinned memory reads it when it runs, not when it is enqueued
    int *d = dev_ints({0});
    *pinned = 1;
    ASSERT_EQ(cudaMemcpyAsync(d, pinned, sizeof(int), cudaMemcpyHostToDevice, s), cudaSuccess);
    *pinned = 2; // too early: the copy has not run
    ASSERT_EQ(cudaStreamSynchronize(s), cudaSuccess);
    EXPECT_EQ(fetch(d), 2);
    cudaFree(d);
    cudaFreeHost(pinned);
    cudaStreamDestroy(s);
}

TEST_F(Cudasim, PendingWorkMayRunBeforeAnyoneWaits)
{
    // the host refills a pinned buffer while a copy from it is still queued: on a GPU the copy
    // reads either value; here too, from run to run (a missing "buffer free" wait shows)
    lsc_sim::set_schedule(2, 11, 50);
    cudaStream_t s;
    ASSERT_EQ(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), cudaSuccess);
    int *pinned = nullptr;
    ASSERT_EQ(cudaMallocHost((void **)&pinned, sizeof(int)), cudaSuccess);
    int *d = dev_ints({0});
    int early = 0, late = 0;
    for (int i = 1; i <= 40; i++) {
        *pinned = i;
        ASSERT_EQ(cudaMemcpyAsync(d, pinned, sizeof(int), cudaMemcpyHostToDevice, s), cudaSuccess);
        *pinned = -1; // too early
        ASSERT_EQ(cudaStreamSynchronize(s), cudaSuccess);
        const int v = fetch(d);
        early += v == i;
        late += v == -1;
    }
    EXPECT_GT(early, 0);
    EXPECT_GT(late, 0);
    EXPECT_EQ(early + late, 40);
    cudaFree(d);
    cudaFreeHost(pinned);
    cudaStreamDestroy(s);
}

TEST_F(Cudasim, ASynchronousCopyOrMemsetDoesNotWaitForNonBlockingStreams)
{
    lsc_sim::set_schedule(2, 5, 0);
    cudaStream_t s;
    ASSERT_EQ(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), cudaSuccess);
    int *d = dev_ints({0}), *pinned = nullptr;
    ASSERT_EQ(cudaMallocHost((void **)&pinned, sizeof(int)), cudaSuccess);
    *pinned = 0;
    write_value<<<1, 1, 0, s>>>(pinned, 9);
    ASSERT_EQ(cudaMemset(d, 0, sizeof(int)), cudaSuccess); // the legacy stream: s is not waited for
    EXPECT_EQ(*(volatile int *)pinned, 0);
    ASSERT_EQ(cudaStreamSynchronize(s), cudaSuccess);
    EXPECT_EQ(*(volatile int *)pinned, 9);
    cudaFree(d);
    cudaFreeHost(pinned);
    cudaStreamDestroy(s);
}

TEST_F(Cudasim, EventsOrderTwoStreams)
{
    cudaStream_t a, b;
    cudaEvent_t e;
    ASSERT_EQ(cudaStreamCreateWithFlags(&a, cudaStreamNonBlocking), cudaSuccess);
    ASSERT_EQ(cudaStreamCreateWithFlags(&b, cudaStreamNonBlocking), cudaSuccess);
    ASSERT_EQ(cudaEventCreateWithFlags(&e, cudaEventDisableTiming), cudaSuccess);
    int *x = dev_ints({0}), *pinned = nullptr;
    ASSERT_EQ(cudaMallocHost((void **)&pinned, sizeof(int)), cudaSuccess);
    *pinned = -1;
    write_value<<<1, 1, 0, a>>>(x, 7);
    ASSERT_EQ(cudaEventRecord(e, a), cudaSuccess);
    ASSERT_EQ(cudaStreamWaitEvent(b, e, 0), cudaSuccess);
    copy_value<<<1, 1, 0, b>>>(x, pinned);
    ASSERT_EQ(cudaStreamSynchronize(b), cudaSuccess); // runs a's work first, through the event
    EXPECT_EQ(*pinned, 7);
    cudaFree(x);
    cudaFreeHost(pinned);
    cudaEventDestroy(e);
    cudaStreamDestroy(a);
    cudaStreamDestroy(b);
}

TEST_F(Cudasim, CaptureRecordsAGraphAndRefusesWhatCaptureForbids)
{
    cudaStream_t s;
    ASSERT_EQ(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), cudaSuccess);
    int *x = dev_ints({0});
    cudaGraph_t g = nullptr;
    // cudaMalloc during a global-mode capture invalidates it
    ASSERT_EQ(cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal), cudaSuccess);
    add_one<<<1, 1, 0, s>>>(x);
    void *p = nullptr;
    EXPECT_EQ(cudaMalloc(&p, 16), cudaErrorStreamCaptureUnsupported);
    EXPECT_EQ(cudaMemsetAsync(x, 0, 4, s), cudaErrorStreamCaptureInvalidated); // and it stays so
    EXPECT_EQ(cudaStreamEndCapture(s, &g), cudaErrorStreamCaptureInvalidated);
    cudaGetLastError();
    // so does synchronising the capturing stream
    ASSERT_EQ(cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal), cudaSuccess);
    EXPECT_EQ(cudaStreamSynchronize(s), cudaErrorStreamCaptureUnsupported);
    EXPECT_EQ(cudaStreamEndCapture(s, &g), cudaErrorStreamCaptureInvalidated);
    cudaGetLastError();
    // a clean capture runs nothing until launched, then once per launch
    ASSERT_EQ(cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal), cudaSuccess);
    add_one<<<1, 1, 0, s>>>(x);
    ASSERT_EQ(cudaStreamEndCapture(s, &g), cudaSuccess);
    EXPECT_EQ(fetch(x), 0);
    cudaGraphExec_t ex = nullptr;
    ASSERT_EQ(cudaGraphInstantiate(&ex, g, 0), cudaSuccess);
    for (int i = 0; i < 3; i++) ASSERT_EQ(cudaGraphLaunch(ex, s), cudaSuccess);
    ASSERT_EQ(cudaStreamSynchronize(s), cudaSuccess);
    EXPECT_EQ(fetch(x), 3);
    cudaGraphExecDestroy(ex);
    cudaGraphDestroy(g);
    cudaFree(x);
    cudaStreamDestroy(s);
}

TEST_F(Cudasim, CopiesStayInsideOneAllocationInTheStatedDirection)
{
    int *d = dev_ints(std::vector<int>(64, 0));
    std::vector<int> h(65, 1);
    EXPECT_EQ(cudaMemcpy(d, h.data(), 65 * sizeof(int), cudaMemcpyHostToDevice),
              cudaErrorInvalidValue);
    EXPECT_EQ(cudaMemcpy(d + 1, h.data(), 64 * sizeof(int), cudaMemcpyHostToDevice),
              cudaErrorInvalidValue);
    EXPECT_EQ(cudaMemcpy(h.data(), d, 4, cudaMemcpyHostToDevice),
              cudaErrorInvalidValue); // backwards
    EXPECT_EQ(cudaMemcpy(d, h.data(), 64 * sizeof(int), cudaMemcpyHostToDevice), cudaSuccess);
    EXPECT_EQ(cudaMemsetAsync(h.data(), 0, 4, nullptr), cudaErrorInvalidValue); // pageable memory
    cudaGetLastError();
    cudaFree(d);
}

TEST_F(Cudasim, AKernelCannotBeGivenPageableHostMemory)
{
    int host = 5; // on the stack: pageable
    write_value<<<1, 1>>>(&host, 6);
    EXPECT_EQ(cudaGetLastError(), cudaErrorInvalidValue);
    EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    EXPECT_EQ(host, 5); // it did not run
    int *pinned = nullptr;
    ASSERT_EQ(cudaMallocHost((void **)&pinned, sizeof(int)), cudaSuccess);
    write_value<<<1, 1>>>(pinned, 6); // pinned memory is fine
    EXPECT_EQ(cudaGetLastError(), cudaSuccess);
    EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    EXPECT_EQ(*pinned, 6);
    cudaFreeHost(pinned);
}

TEST_F(Cudasim, LaunchConfigurationsAreCheckedAsTheHardwareDoes)
{
    int *x = dev_ints({0});
    add_one<<<1, 2048>>>(x);
    EXPECT_EQ(cudaGetLastError(), cudaErrorInvalidConfiguration);
    add_one<<<0, 32>>>(x);
    EXPECT_EQ(cudaGetLastError(), cudaErrorInvalidConfiguration);
    add_one<<<1, 32, 64 * 1024>>>(x);
    EXPECT_EQ(cudaGetLastError(), cudaErrorInvalidValue);
    EXPECT_EQ(fetch(x), 0); // none of them ran
    cudaFree(x);
}

} // namespace
