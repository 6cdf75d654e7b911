// Umbrella header for the portable core (see each header for the why).
#pragma once

#include "backoff.h"
#include "device.h"
#include "endpoint.h"
#include "identity.h"
#include "json_writer.h"
#include "locator.h"
#include "num_format.h"
#include "payload.h"
#include "ports.h"
#include "ring_buffer.h"
#include "telemetry.h"
#include "uplink.h"
#include "ws_reply.h"
