// Purely local Adam on the real Fashion-MNIST, no server: the reference run
// the model tests hold each model to (one epoch with the worker's defaults
// must reach a given accuracy).
#ifndef ADAMASYNC_TESTS_TESTING_LOCAL_TRAINING_H_
#define ADAMASYNC_TESTS_TESTING_LOCAL_TRAINING_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "adamasync/table_spec.h"
#include "worker/model.h"

namespace adamasync {
namespace testing {

// The data set's folder ($ADAMASYNC_FASHION_MNIST_DIR, else the Debian
// package's), or "" when its training images are not there (skip then).
std::string FashionMnistDirOrEmpty();

struct LocalEpoch {
  training::BatchStats test;  // evaluated after the epoch
  uint64_t steps = 0;
};

// One epoch (the order of EpochOrder(seed 1, epoch 0)) of minibatches of
// `batch_size`, each one Adam step (AdamCpu) on every tensor, starting from
// the model's own initializers; then the test set's loss and accuracy.
absl::StatusOr<LocalEpoch> TrainOneEpochLocally(const training::Model& model,
                                                const std::string& dir, int batch_size,
                                                const AdamConfig& adam);

}  // namespace testing
}  // namespace adamasync

#endif  // ADAMASYNC_TESTS_TESTING_LOCAL_TRAINING_H_
