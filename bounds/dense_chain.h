// The dense-chain form of a feed-forward network, read off the graph once.
//
// Most verification networks (ACAS Xu, mnist_fc, eran) are an elementwise
// affine prefix (normalisation, flatten) followed by layers
//     z_i = W_i · h_{i-1} + b_i,   h_i = act_i(z_i)
// with constant W_i, b_i and an activation that has a relaxation. For those,
// dense_chain.cpp computes the same bounds as the DAG engine (crown.cpp,
// ibp.cpp) with the same rules and error terms, but in matrix form: the rows
// of a backward pass are one dense matrix over the live neurons only (inactive
// ReLUs dropped once per layer, not per pass), products go to BLAS, and the
// rows that a cheap bound already settles skip the widest product (see
// denseChainBounds). Anything else, and any graph that is not such a chain,
// takes the DAG engine.
#pragma once

#include "bounds/engine.h"

#include <optional>
#include <vector>

namespace gm::bounds {

inline constexpr NodeId kNoNode = ~NodeId(0);

struct DenseLayer {
  std::size_t in = 0, out = 0;
  std::vector<double> W;    // out × in, row-major: z_j = sum_k W[j*in + k] h_k
  std::vector<double> b;    // out (zeros without a bias node)
  std::vector<float> Wf;    // W in float when every weight is a float (else empty)
  ValueId z = kNoValue;     // the pre-activation value (after the bias)
  NodeId act = kNoNode;     // the activation node reading z, or kNoNode
  ValueId h = kNoValue;     // the activation's result (kNoValue without one)
};

struct DenseChain {
  std::vector<NodeId> prefix; // elementwise affine and reshape nodes before the first layer
  ValueId prefixOut = kNoValue;
  std::vector<DenseLayer> layers;
};

// The chain form of the graph, or nullopt when the graph is not one.
std::optional<DenseChain> matchDenseChain(const GraphInfo &info);

// Whether denseChainBounds serves this query (the DAG engine serves the rest:
// specs with input coefficients, non-finite boxes).
bool denseChainServes(const DenseChain &chain, const Box &box, const Spec *spec);

Result denseChainBounds(const GraphInfo &info, const DenseChain &chain, const Box &box, const Spec *spec,
                        const Options &options);

} // namespace gm::bounds
