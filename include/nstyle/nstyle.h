/* nstyle: neural style transfer in C with a CUDA backend. The whole public API. */
#ifndef NSTYLE_NSTYLE_H
#define NSTYLE_NSTYLE_H

#include "colour.h"
#include "context.h"
#include "device.h"
#include "geometry.h"
#include "image.h"
#include "memory.h"
#include "metrics.h"
#include "models.h"
#include "ops.h"
#include "render.h"
#include "safetensors.h"
#include "status.h"
#include "stn.h"
#include "stylize.h"
#include "tensor.h"
#include "vgg19.h"

#endif
