/* Private to the engine module; the interface is public (brr/spawn.h) since the tasks layer
 * runs ssh with it too. */
#ifndef BRR_ENGINE_SPAWN_H
#define BRR_ENGINE_SPAWN_H

#include "brr/spawn.h"

#endif
