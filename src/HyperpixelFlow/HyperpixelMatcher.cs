using HyperpixelFlow.Backbones;
using HyperpixelFlow.Flow;
using HyperpixelFlow.Hyperpixels;
using HyperpixelFlow.Imaging;
using HyperpixelFlow.Matching;
using TorchSharp;
using static TorchSharp.torch;

namespace HyperpixelFlow;

/// <summary>Which image of a pair hyperpixels are built for.</summary>
public enum PairSide
{
    /// <summary>The image whose points are transferred.</summary>
    Source,
    /// <summary>The image they land in.</summary>
    Target,
}

/// <summary>
/// The public entry point: semantic correspondence between two images with Hyperpixel Flow.
/// <code>
/// using var matcher = new HyperpixelMatcher();                 // bundled ResNet-18, paper defaults
/// var result = matcher.Match("cat1.jpg", "cat2.jpg", [new Point2(120, 80)]);
/// </code>
/// The pipeline is backbone features -> hyperpixels -> regularized Hough matching -> flow / keypoint transfer; each
/// stage is also public so that evaluation code can cache features per image. Not thread-safe: use one per thread.
/// </summary>
public sealed class HyperpixelMatcher : IDisposable
{
    private readonly bool _ownsBackbone;
    private readonly IMatchingStep _matching;

    /// <summary>The settings in use.</summary>
    public HyperpixelFlowOptions Options { get; }
    /// <summary>The network that gives features (created by name through <see cref="BackboneRegistry"/>, or any <see cref="Backbone"/>).</summary>
    public Backbone Backbone { get; }
    /// <summary>The validated hyperpixel layer ids in use (ascending).</summary>
    public IReadOnlyList<int> Layers { get; }

    /// <summary>A matcher with its own backbone, created by name from the options (defaults when null).</summary>
    public HyperpixelMatcher(HyperpixelFlowOptions? options = null)
        : this(CreateBackbone(options ?? new HyperpixelFlowOptions()), options ?? new HyperpixelFlowOptions(), ownsBackbone: true)
    {
    }

    /// <summary>Uses an existing backbone (not disposed with the matcher) with other options, e.g. other layers.</summary>
    public HyperpixelMatcher(Backbone backbone, HyperpixelFlowOptions options) : this(backbone, options, ownsBackbone: false)
    {
    }

    private HyperpixelMatcher(Backbone backbone, HyperpixelFlowOptions options, bool ownsBackbone)
    {
        options.Validate();
        if (options.Runtime.Threads > 0) torch.set_num_threads(options.Runtime.Threads);
        Options = options;
        Backbone = backbone;
        _ownsBackbone = ownsBackbone;
        try
        {
            if (backbone.Precision != options.Hyperpixels.Precision)
                throw new HyperpixelFlowException($"backbone {backbone.Name} computes in {backbone.Precision}, the options ask for " +
                    $"{options.Hyperpixels.Precision}: create it with that precision (BackboneRegistry.Create)");
            Layers = backbone.LayersFor(options);
            _matching = MatchingRegistry.Create(options);
            var layers = Layers;
            _calibrationKey = new Lazy<string>(() => Calibration.ConfidenceCalibration.KeyOf(backbone.Name, layers, options));
            _calibration = options.Runtime.CalibrationPath is { } path ? Calibration.ConfidenceCalibration.ReadFor(path, CalibrationKey)
                : options.Hyperpixels.WeightsPath is null ? Calibration.ConfidenceCalibration.For(CalibrationKey)
                : null;   // weights from a file: no shipped calibration can be for them, and hashing them is not needed
        }
        catch
        {
            if (ownsBackbone) backbone.Dispose();
            throw;
        }
    }

    private static Backbone CreateBackbone(HyperpixelFlowOptions options)
    {
        options.Validate();
        Kernels.KernelPrecompilation.StartOnce();
        return BackboneRegistry.Create(options.Hyperpixels.Backbone, options.Hyperpixels.WeightsPath, options.Runtime.Device, options.Hyperpixels.Precision);
    }

    /// <summary>Matches two image files. Without points, a regular grid of source points is transferred.</summary>
    public MatchResult Match(string sourcePath, string targetPath, IReadOnlyList<Point2>? sourcePoints = null)
    {
        var timer = new StageTimer();
        var source = ImageLoader.Load(sourcePath, Options.Runtime.MaxImagePixels);
        var target = ImageLoader.Load(targetPath, Options.Runtime.MaxImagePixels);
        timer.Lap("decode");
        return Match(source, target, sourcePoints, timer);
    }

    /// <summary>Matches two decoded images; points are in source-image pixels (null = a regular grid).</summary>
    public MatchResult Match(RgbImage source, RgbImage target, IReadOnlyList<Point2>? sourcePoints = null) =>
        Match(source, target, sourcePoints, new StageTimer());

    private MatchResult Match(RgbImage source, RgbImage target, IReadOnlyList<Point2>? sourcePoints, StageTimer timer)
    {
        if (sourcePoints is not null) ValidatePoints(sourcePoints, source.Width, source.Height);
        using var scope = NewDisposeScope();
        using var sourceDescription = Describe(source, timer, PairSide.Source);
        using var targetDescription = Describe(target, timer, PairSide.Target);
        return Match(Predict(sourceDescription, targetDescription, timer), sourcePoints, timer);
    }

    /// <summary>Matches two described images (<see cref="Describe(RgbImage, StageTimer?, PairSide?)"/>); points in original source pixels (null = a regular grid).</summary>
    public MatchResult Match(ImageDescription source, ImageDescription target, IReadOnlyList<Point2>? sourcePoints = null) =>
        Match(Predict(source, target), sourcePoints);

    /// <summary>
    /// The result of a pair already matched (<see cref="Predict"/>): transferred points (null = a regular grid), the
    /// dense flow both ways and the diagnostics. Needs only the prediction, not the hyperpixels it came from.
    /// </summary>
    public MatchResult Match(PairPrediction prediction, IReadOnlyList<Point2>? sourcePoints = null, StageTimer? timer = null)
    {
        timer ??= new StageTimer();
        var points = sourcePoints ?? GridPoints(prediction.SourceWidth, prediction.SourceHeight, 8);
        ValidatePoints(points, prediction.SourceWidth, prediction.SourceHeight);
        // Given points are an annotation, transferred together; the grid points of a flow-only call are not one.
        var matches = sourcePoints is null ? points.Select(prediction.MatchOf).ToList() : prediction.MatchAll(points);
        timer.Lap("transfer");
        var flow = prediction.Flow(prediction.SourceWidth, prediction.SourceHeight, Options.Flow.ConsistencyFilter);
        var (ps, pt, match) = (prediction.PrimarySource, prediction.PrimaryTarget, prediction.PrimaryMatch);
        var (sourceGrid, targetGrid) = (prediction.PrimarySourceGrid, prediction.PrimaryTargetGrid);
        var backward = new DisplacementField(targetGrid, sourceGrid, match.BestSourceOfTarget);
        var inverse = FlowField.FromDisplacement(backward, prediction.TargetWidth, prediction.TargetHeight, pt.Scale, ps.Scale);
        timer.Lap("flow");
        var diagnostics = new MatchDiagnostics(prediction.SourceWidth, prediction.SourceHeight, prediction.TargetWidth, prediction.TargetHeight,
            ps.Width, ps.Height, pt.Width, pt.Height,
            sourceGrid.Count, targetGrid.Count, prediction.HyperpixelChannels, sourceGrid.Stride, targetGrid.Stride,
            match.Space.BinsX, match.Space.BinsY, match.Space.CellSize,
            match.SimilaritySum, match.SimilarityMax, match.ConfidenceSum, match.ConfidenceMax, Options.DescribeMatching(), prediction.VariantCount);
        var hyperpixelMatches = Enumerable.Range(0, sourceGrid.Count).Select(n =>
        {
            var (s, t) = (sourceGrid, targetGrid);
            int best = (int)match.BestTargetOfSource[n];
            return new PointMatch(
                new Point2(s.Center(s.GridX(n)) / (double)ps.Scale, s.Center(s.GridY(n)) / (double)ps.Scale),
                new Point2(t.Center(t.GridX(best)) / (double)pt.Scale, t.Center(t.GridY(best)) / (double)pt.Scale),
                match.NormalizedConfidence(n), match.IsMutual(n));
        }).ToList();
        return new MatchResult(Backbone.Name, Layers, matches, hyperpixelMatches, flow, inverse, diagnostics, timer.ToDictionary());
    }

    /// <summary>
    /// The whole confidence matrix of two described images' primary views, for inspection: how strongly every target
    /// hyperpixel answers each source one (<see cref="ConfidenceMatrix.Row"/>). Costs about one more matching.
    /// </summary>
    internal ConfidenceMatrix Confidence(ImageDescription source, ImageDescription target)
    {
        var (s, t) = (source.Primary, target.Primary);
        using var values = _matching.Confidence(s.AsSource!, t.AsTarget);
        return new ConfidenceMatrix(values.cpu().data<float>().ToArray(), s.AsSource!.Grid, t.AsTarget.Grid, s.Scale, t.Scale);
    }

    /// <summary>
    /// An image's hyperpixels for every view the options ask for (each test-time scale; a mirrored target view of
    /// each when <see cref="ImageOptions.FlipTarget"/> is on): decode once, describe once, match many times.
    /// <paramref name="role"/> = <see cref="PairSide.Source"/> leaves out the mirrored views, which only targets use;
    /// <see cref="PairSide.Target"/> leaves out the source grid's hyperpixels, which only sources use; null keeps both
    /// (an image that may be either, as in evaluation).
    /// </summary>
    public ImageDescription Describe(RgbImage image, StageTimer? timer = null, PairSide? role = null)
    {
        var views = new List<ImageView>();
        try
        {
            foreach (double testScale in Options.Image.Scales)
                foreach (bool flip in Options.Image.FlipTarget && role != PairSide.Source ? new[] { false, true } : [false])
                {
                    int side = Options.Image.MaxSide == 0 ? 0 : (int)(Options.Image.MaxSide * testScale);
                    using var prepared = PreparedImage.From(image, side, Backbone.Device, Options.Image.Upscale, flip);
                    timer?.Lap("resize");
                    var features = ExtractFeatures(prepared, Layers);
                    timer?.Lap("backbone");
                    try
                    {
                        // A target-only description skips the source grid (it differs from a coarser target grid).
                        var asSource = flip || role == PairSide.Target ? null : BuildHyperpixels(features, Layers, prepared, PairSide.Source);
                        var asTarget = asSource is not null && TargetSharesSourceGrid
                            ? asSource
                            : BuildHyperpixels(features, Layers, prepared, PairSide.Target);
                        views.Add(new ImageView(testScale, flip, prepared.Scale, prepared.Width, prepared.Height, asSource, asTarget));
                    }
                    finally
                    {
                        foreach (var f in features) f.Dispose();
                    }
                    timer?.Lap("hyperpixels");
                }
            return new ImageDescription(views, image.Width, image.Height);
        }
        catch
        {
            foreach (var view in views) view.Dispose();
            throw;
        }
    }

    /// <summary>Whether the target's hyperpixel grid is the source's (no coarser target grid, or none among the layers).</summary>
    private bool TargetSharesSourceGrid =>
        HyperpixelBuilder.GridLayer(Layers, Backbone, Options.Hyperpixels.EffectiveTargetStride) == HyperpixelBuilder.GridLayer(Layers, Backbone, Options.Hyperpixels.Stride);

    /// <summary>Decodes an image file (within <see cref="RuntimeOptions.MaxImagePixels"/>) and describes it for either side of a pair.</summary>
    public ImageDescription Describe(string imagePath) => Describe(ImageLoader.Load(imagePath, Options.Runtime.MaxImagePixels));

    /// <summary>Matches two described images under every test-time variant; the result transfers points and forms flow.</summary>
    public PairPrediction Predict(ImageDescription source, ImageDescription target, StageTimer? timer = null) =>
        new(source, target, (s, t) => MatchHyperpixels(s.AsSource!, t.AsTarget, timer), _calibration);

    /// <summary>
    /// Whether points get a calibrated confidence (the probability that they are right): only the settings a
    /// calibration was fitted for have one (<c>hpf calibrate</c>); with any other, confidence is NaN rather than wrong.
    /// </summary>
    public bool HasCalibratedConfidence => _calibration is not null;

    /// <summary>The setting a confidence calibration must have been fitted for (hashes a weights file on first use).</summary>
    internal string CalibrationKey => _calibrationKey.Value;

    private readonly Lazy<string> _calibrationKey = null!;

    private readonly Calibration.ConfidenceCalibration? _calibration;

    /// <summary>Resize to the working side (max side, enlarging when <see cref="ImageOptions.Upscale"/>) and move to the backbone's device.</summary>
    internal PreparedImage Prepare(RgbImage image) => PreparedImage.From(image, Options.Image.MaxSide, Backbone.Device, Options.Image.Upscale);

    /// <summary>Backbone features of the given (validated) layers.</summary>
    internal Tensor[] ExtractFeatures(PreparedImage image, IReadOnlyList<int> layers) => Backbone.Extract(image.Rgb, layers);

    /// <summary>
    /// Hyperpixels from layer features (in the order of <paramref name="layers"/>) for one side of a pair: the two
    /// sides' grids differ when <see cref="HyperpixelOptions.TargetStride"/> is set.
    /// </summary>
    internal HyperpixelSet BuildHyperpixels(IReadOnlyList<Tensor> features, IReadOnlyList<int> layers, PreparedImage image, PairSide side) =>
        HyperpixelBuilder.Build(features, layers, Backbone, image.Width, image.Height, Options.Hyperpixels.MarginPruning,
            side == PairSide.Source ? Options.Hyperpixels.Stride : Options.Hyperpixels.EffectiveTargetStride);

    /// <summary>Matches two hyperpixel sets with the matching step the options name (<see cref="HyperpixelFlowOptions.Matching"/>).</summary>
    public HoughMatch MatchHyperpixels(HyperpixelSet source, HyperpixelSet target, StageTimer? timer = null) =>
        _matching.Match(source, target, timer);

    /// <summary>Points must be finite and inside the image (0 &lt;= x &lt;= W - 1, 0 &lt;= y &lt;= H - 1).</summary>
    public static void ValidatePoints(IReadOnlyList<Point2> points, RgbImage image) => ValidatePoints(points, image.Width, image.Height);

    /// <summary>Points must be finite and inside an image of the given size (0 &lt;= x &lt;= W - 1, 0 &lt;= y &lt;= H - 1).</summary>
    public static void ValidatePoints(IReadOnlyList<Point2> points, int width, int height)
    {
        for (int i = 0; i < points.Count; i++)
        {
            var p = points[i];
            if (!double.IsFinite(p.X) || !double.IsFinite(p.Y))
                throw new HyperpixelFlowException($"point {i + 1} {p} is not a finite number");
            if (p.X < 0 || p.Y < 0 || p.X > width - 1 || p.Y > height - 1)
                throw new HyperpixelFlowException(
                    $"point {i + 1} {p} lies outside the source image ({width}x{height}, valid x 0..{width - 1}, y 0..{height - 1})");
        }
    }

    /// <summary>A regular grid of about <paramref name="perSide"/> x <paramref name="perSide"/> points inside the image.</summary>
    public static IReadOnlyList<Point2> GridPoints(int width, int height, int perSide)
    {
        var points = new List<Point2>();
        for (int gy = 0; gy < perSide; gy++)
            for (int gx = 0; gx < perSide; gx++)
                points.Add(new Point2(Math.Round((gx + 0.5) * width / perSide), Math.Round((gy + 0.5) * height / perSide)));
        return points;
    }

    /// <summary>Releases the matching step and, when the matcher created it, the backbone.</summary>
    public void Dispose()
    {
        _matching.Dispose();
        if (_ownsBackbone) Backbone.Dispose();
    }
}
