// The recurrent families' maps: their implicit attention A[i][j] (o_i = Σ_j A[i][j] v_j exactly),
// recomputed from the per-token factors the engine published and the recorder stored as they are
// (_mixer_factor; docs/ARCHITECTURES.md gives each family's formula and factors):
//
//   linear, retnet, gla    q, k (after the feature map), g (GLA: per token and key dim; RetNet:
//                          log γ, one per head)                  → decay_implicit_attention
//   delta, gated_delta     q, k, beta (and g, the log α per token) → delta_implicit_attention
//   mamba2                 dt (per head), A (per head), B, C        → mamba2_implicit_attention
//   mamba1                 dt, A, B, C per channel; a head's map is the mean of its channels' maps,
//                          and each channel's own map is offered (channels_per_head = state_rows)
//
// A factor with one head slice (Mamba's B and C, Mamba-1's dt and A) is shared by every head.
#include <algorithm>
#include <cstring>

#include "mnemo/core/error.h"
#include "mnemo/profiler/session/implicit_attention.h"
#include "mnemo/profiler/session/mixer_map.h"

namespace mnemo::profiler {
namespace {

enum class Family { Linear, Retnet, Gla, Delta, GatedDelta, Mamba1, Mamba2 };

class RecurrentMap final : public MixerMap {
 public:
  RecurrentMap(const MixerMapInput& in, Family family) : in_(in), what_(in.what), family_(family) {
    const MixerLayer& l = in.layer;
    const int32_t h = in.head;
    if (in.channel >= 0 && family != Family::Mamba1) throw Error(what_ + ": the layer's maps have no channels");
    switch (family) {
      case Family::Linear:
      case Family::Retnet:
      case Family::Gla:
      case Family::Delta:
      case Family::GatedDelta: {
        dim_ = l.key_dim;
        q_ = per_token("q", h, dim_);
        k_ = per_token("k", h, dim_);
        if (family == Family::Retnet) log_gamma_ = per_layer("g", h, 1).at(0);
        if (family == Family::Gla) g_ = per_token("g", h, dim_);
        if (family == Family::GatedDelta) g_ = per_token("g", h, 1);
        if (family == Family::Delta || family == Family::GatedDelta) beta_ = per_token("beta", h, 1);
        break;
      }
      case Family::Mamba2: {
        const int64_t H = l.n_heads, N = l.state_cols;
        // dt as the function reads it, [T][H]: every head's slice (the map of head h reads column h).
        for (int32_t head = 0; head < H; ++head) {
          const std::vector<float> one = per_token("dt", head, 1);
          if (head == 0) dt_.assign(one.size() * static_cast<size_t>(H), 0.f);
          for (size_t t = 0; t < one.size(); ++t) dt_[t * static_cast<size_t>(H) + static_cast<size_t>(head)] = one[t];
        }
        A_.assign(static_cast<size_t>(H), 0.f);
        A_[static_cast<size_t>(h)] = per_layer("A", h, 1).at(0);
        load_bc(N);
        m2_ = {dt_.data(), A_.data(), B_.data(), C_.data(), H, N, groups_};
        break;
      }
      case Family::Mamba1: {
        const int64_t N = l.state_cols, channels_per_head = l.state_rows, D = l.n_heads * channels_per_head;
        dt_ = per_token("dt", 0, D);
        A_ = per_layer("A", 0, N);
        if (static_cast<int64_t>(A_.size()) != D * N)
          throw Error(what_ + ": Mamba-1 A holds " + std::to_string(A_.size()) + " values, not " + std::to_string(D) + " × " +
                      std::to_string(N));
        load_bc(N);
        m1_ = {dt_.data(), A_.data(), B_.data(), C_.data(), D, N, groups_};
        d0_ = h * channels_per_head, d1_ = d0_ + channels_per_head;
        if (in.channel >= channels_per_head)
          throw Error(what_ + ": no channel " + std::to_string(in.channel) + " (a head has " +
                      std::to_string(channels_per_head) + " channels)");
        break;
      }
    }
  }

  void block(int64_t r0, int64_t nr, int64_t c0, int64_t c1, float* out) override {
    if (r0 < 0 || r0 + nr > rows_) throw Error(what_ + ": no factors for query positions " + std::to_string(r0) + ".." +
                                               std::to_string(r0 + nr - 1) + " (" + std::to_string(rows_) + " recorded)");
    const int64_t cols = c1 - c0;
    std::fill(out, out + nr * cols, 0.f);
    // Keys past the recorded tokens read as 0, like a softmax map's unrecorded keys.
    const int64_t kc = std::min(c1, rows_);
    if (kc <= c0 || nr <= 0) return;
    const TileRange t{r0, r0 + nr, c0, kc};
    switch (family_) {
      case Family::Linear:
      case Family::Retnet:
      case Family::Gla: {
        DecayFactors f;
        f.q = q_.data(), f.q_stride = dim_, f.k = k_.data(), f.k_stride = dim_, f.dim = dim_, f.scale = in_.layer.scale;
        if (family_ == Family::Retnet) f.decay.per_step = log_gamma_;
        if (family_ == Family::Gla) f.decay.per_token = g_.data(), f.decay.stride = dim_, f.decay.per_dim = true;
        decay_implicit_attention(f, t, out, cols);
        return;
      }
      case Family::Delta:
      case Family::GatedDelta: {
        DeltaFactors f;
        f.q = q_.data(), f.q_stride = dim_, f.k = k_.data(), f.k_stride = dim_, f.dim = dim_, f.scale = in_.layer.scale;
        f.beta = beta_.data(), f.beta_stride = 1;
        if (family_ == Family::GatedDelta) f.log_alpha = g_.data(), f.log_alpha_stride = 1;
        delta_implicit_attention(f, t, out, cols);
        return;
      }
      case Family::Mamba2: mamba2_implicit_attention(m2_, in_.head, t, out, cols); return;
      case Family::Mamba1:
        if (in_.channel >= 0) mamba1_implicit_attention(m1_, d0_ + in_.channel, t, out, cols);
        else mamba1_mean_implicit_attention(m1_, d0_, d1_, t, out, cols);
        return;
    }
  }

  std::vector<float> row(int64_t pos) override {
    if (pos < 0 || pos >= rows_) throw Error(what_ + " has no token at position " + std::to_string(pos));
    std::vector<float> p(static_cast<size_t>(pos + 1), 0.f);
    block(pos, 1, 0, pos + 1, p.data());
    return p;
  }

 private:
  // Factor `name`'s per-token rows of head slice `slice` ([T][width], row t at position t) over
  // the recorded steps; the first such factor fixes T, the others must cover the same positions.
  std::vector<float> per_token(const std::string& name, int32_t slice, int64_t width) {
    const std::vector<FactorBlock> blocks = in_.factors.blocks(name, slice);
    if (blocks.empty())
      throw Error(what_ + ": no '" + name + "' factors recorded (capture off, head out of range, or dropped by the byte budget)");
    int64_t positions = 0;
    for (const FactorBlock& b : blocks)
      for (int64_t p : b.positions) positions = std::max(positions, p + 1);
    if (rows_ < 0) rows_ = positions;
    else if (positions != rows_)
      throw Error(what_ + ": factor '" + name + "' covers " + std::to_string(positions) + " positions, others " +
                  std::to_string(rows_));
    std::vector<float> out(static_cast<size_t>(positions * width), 0.f), values;
    for (const FactorBlock& b : blocks) {
      if (b.width != width)
        throw Error(what_ + " step " + std::to_string(b.step) + ": factor '" + name + "' has width " + std::to_string(b.width) +
                    ", the layer needs " + std::to_string(width));
      in_.factors.read(b, slice, values);
      for (int64_t r = 0; r < b.n; ++r)
        std::memcpy(out.data() + b.positions[static_cast<size_t>(r)] * width, values.data() + r * width,
                    static_cast<size_t>(width) * sizeof(float));
    }
    return out;
  }

  // A per-layer factor (recorded with every step; the newest step's values).
  std::vector<float> per_layer(const std::string& name, int32_t slice, int64_t width) {
    const std::vector<FactorBlock> blocks = in_.factors.blocks(name, slice);
    if (blocks.empty()) throw Error(what_ + ": no '" + name + "' factor recorded");
    const FactorBlock& b = blocks.back();
    if (b.width != width)
      throw Error(what_ + ": factor '" + name + "' has width " + std::to_string(b.width) + ", the layer needs " +
                  std::to_string(width));
    std::vector<float> values;
    in_.factors.read(b, slice, values);
    return values;
  }

  // Mamba's B and C, [T][G][N] shared by every head; G from their width.
  void load_bc(int64_t N) {
    const std::vector<FactorBlock> bs = in_.factors.blocks("B", 0);
    if (bs.empty() || N <= 0 || bs.front().width % N != 0)
      throw Error(what_ + ": no 'B' factor recorded, or its width is not a multiple of d_state " + std::to_string(N));
    groups_ = bs.front().width / N;
    B_ = per_token("B", 0, groups_ * N);
    C_ = per_token("C", 0, groups_ * N);
  }

  MixerMapInput in_;
  std::string what_;
  Family family_;
  int64_t rows_ = -1;  // positions recorded
  int64_t dim_ = 0;
  std::vector<float> q_, k_, g_, beta_;
  float log_gamma_ = 0.f;
  std::vector<float> dt_, A_, B_, C_;
  int64_t groups_ = 1;
  Mamba1Factors m1_;
  Mamba2Factors m2_;
  int64_t d0_ = 0, d1_ = 0;
};

MixerMapKind kind(const std::string& label, const std::string& row_factor, Family family) {
  return {label, row_factor, [family](const MixerMapInput& in) -> std::unique_ptr<MixerMap> {
            return std::make_unique<RecurrentMap>(in, family);
          }};
}

}  // namespace

void register_recurrent_maps(MixerMapRegistry& registry) {
  const std::string exact = "implicit attention, exact";
  registry.add("linear", kind(exact, "q", Family::Linear));
  registry.add("retnet", kind(exact, "q", Family::Retnet));
  registry.add("gla", kind(exact, "q", Family::Gla));
  registry.add("delta", kind(exact, "q", Family::Delta));
  registry.add("gated_delta", kind(exact, "q", Family::GatedDelta));
  registry.add("mamba2", kind(exact, "dt", Family::Mamba2));
  // Mamba-1 mixes per channel: a head's map is the mean over its channels (state_rows of them, the
  // rows of its state), and each channel's own map is exact too.
  MixerMapKind mamba1 = kind(exact + ", mean over channels", "dt", Family::Mamba1);
  mamba1.channels_per_head = [](const MixerLayer& l) { return l.state_rows; };
  mamba1.channel_label = exact;
  registry.add("mamba1", std::move(mamba1));
}

}  // namespace mnemo::profiler
