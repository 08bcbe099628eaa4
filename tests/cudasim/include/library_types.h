/* cudasim: the data-type tags cuBLAS and cuSOLVER take (see cuda_runtime.h). */
#pragma once
typedef enum cudaDataType_t { CUDA_R_32F = 0, CUDA_R_64F = 1 } cudaDataType;
