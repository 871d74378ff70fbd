// mnemo tile: one tile of one head's attention map, as .npy or .png.
#include <cstdio>

#include "cli_common.h"
#include "commands.h"
#include "mnemo/core/error.h"
#include "mnemo/profiler/npy.h"
#include "mnemo/profiler/png.h"
#include "mnemo/profiler/session/attention_math.h"
#include "mnemo/profiler/session/session_reader.h"

namespace mnemo::cli {

int cmd_tile(const Argv& argv) {
  Args args("tile", "Writes one tile (256 × 256 cells) of a head's attention map at a step.");
  args.positional("file", "the session (.mnemo)")
      .option("--run", "R", "run id (default 1)")
      .option("--step", "S", "step (default 0, the prefill)")
      .option("--layer", "L", "layer")
      .option("--head", "H", "head")
      .option("--channel", "C", "one channel's own map instead of the head's (layers whose maps have channels: Mamba-1)")
      .option("--level", "K", "zoom level: 0 exact cells, K pools 2^K × 2^K (default 0)")
      .option("--tx", "X", "tile column (default 0)")
      .option("--ty", "Y", "tile row (default 0)")
      .option("--stat", "max|mean", "pooled statistic for levels above 0 (default max)")
      .option("--npy", "OUT", "write the tile as a float32 .npy [rows][cols]")
      .option("--png", "OUT", "write the tile as a PNG heatmap")
      .option("--colormap", "NAME", "viridis (default), magma, inferno, plasma, cividis")
      .option("--scale", "KIND", "linear (default), log or rank")
      .option("--upscale", "N", "pixels per cell in the PNG (default 2)");
  if (int rc = parse_or_exit(args, argv); rc >= 0) return rc;
  if (args.has("npy") == args.has("png")) throw UsageError("give exactly one of --npy and --png");
  if (!args.has("layer") || !args.has("head")) throw UsageError("--layer and --head are required");
  const std::string stat = args.str("stat", "max");
  if (stat != "max" && stat != "mean") throw UsageError("--stat must be max or mean");

  profiler::SessionReader reader(args.required("file"));
  // Every number against what the session holds, so that a value out of range is named as such
  // (exit 2) instead of being cast down or reaching the reader as a wrapped-around row.
  const int64_t run = args.integer("run", 1, 1, kMaxRunId);
  const profiler::RunInfo info = reader.run(run).info;
  const std::string of_run = "run " + std::to_string(run) + " of " + reader.path();
  const int64_t newest = reader.newest_step(run);
  if (newest < 0) throw reader.no_committed_step(run);
  const int64_t step = args.integer("step", 0, 0, newest, of_run + " has committed steps 0.." + std::to_string(newest));
  const auto layer = static_cast<int32_t>(
      args.integer("layer", -1, 0, info.n_layers - 1, of_run + " has " + std::to_string(info.n_layers) + " layers"));
  // The layer's own heads (a hybrid's or an SSM's layers need not have the run's attention heads).
  const int32_t layer_heads = reader.layer(run, layer).n_heads;
  const auto head = static_cast<int32_t>(args.integer(
      "head", -1, 0, layer_heads - 1, of_run + " layer " + std::to_string(layer) + " has " + std::to_string(layer_heads) + " heads"));
  // A channel of the head, where the layer's map kind has channels; refused by name elsewhere.
  int64_t channel = -1;
  if (args.has("channel")) {
    const int64_t channels = reader.channels_per_head(run, layer);
    const std::string of_layer = of_run + " layer " + std::to_string(layer) + " (mixer '" + reader.layer(run, layer).mixer + "')";
    if (channels == 0)
      throw UsageError("--channel: " + of_layer + " has no channel maps; leave --channel out for the head's map");
    channel = args.integer("channel", -1, 0, channels - 1, of_layer + " has " + std::to_string(channels) + " channels per head");
  }
  const int level = static_cast<int>(args.integer("level", 0, 0, profiler::kMaxTileLevel));
  const profiler::MapShape map = reader.map_shape(run, step, layer, head);
  const int64_t tiles_y = profiler::tiles_at_level(map.rows, level), tiles_x = profiler::tiles_at_level(map.cols, level);
  const std::string grid = "the map at step " + std::to_string(step) + " is " + std::to_string(tiles_y) + " × " +
                           std::to_string(tiles_x) + " tiles at level " + std::to_string(level);
  const int64_t ty = args.integer("ty", 0, 0, tiles_y - 1, grid), tx = args.integer("tx", 0, 0, tiles_x - 1, grid);
  const auto t = reader.tile(run, step, layer, head, level, ty, tx, channel);
  const std::vector<float>& values = stat == "max" ? t.max : t.mean;
  const uint64_t shape[2] = {static_cast<uint64_t>(t.rows), static_cast<uint64_t>(t.cols)};
  if (args.has("npy")) {
    profiler::write_npy(args.str("npy"), shape, values);
  } else {
    profiler::HeatmapOptions opt;
    opt.colormap = args.str("colormap", "viridis");
    const auto kind = profiler::scale_kind_from_name(args.str("scale", "linear"));
    if (!kind) throw UsageError("--scale must be linear, log or rank");
    opt.scale.kind = *kind;
    opt.upscale = static_cast<uint32_t>(args.integer("upscale", 2, 1, 64));
    opt.colorbar = true;
    profiler::write_heatmap_png(args.str("png"), values, static_cast<uint32_t>(t.rows), static_cast<uint32_t>(t.cols), opt);
  }
  // The map's label first: what the values are (softmax probabilities, implicit attention, ...).
  std::fprintf(stderr, "%s, tile level %d (%lld, %lld): %lld × %lld cells from row %lld, col %lld%s\n", t.label.c_str(), t.level,
               static_cast<long long>(t.ty), static_cast<long long>(t.tx), static_cast<long long>(t.rows),
               static_cast<long long>(t.cols), static_cast<long long>(t.row0), static_cast<long long>(t.col0),
               t.level > 0 && t.recomputed_rows == 0 ? ", from the stored pyramid" : "");
  return 0;
}

}  // namespace mnemo::cli
