using HyperpixelFlow.Backbones;
using HyperpixelFlow.Flow;
using HyperpixelFlow.Imaging;
using HyperpixelFlow.Visualization;

namespace HyperpixelFlow.Cli.Web;

/// <summary>A request's failure with the HTTP status that says what happened; the server reports it and goes on.</summary>
internal sealed class WebError(int status, string message) : Exception(message)
{
    public int Status { get; } = status;
}

/// <summary>An uploaded image: decoded once, kept until evicted.</summary>
internal sealed record StoredImage(string Id, string Name, RgbImage Image, byte[] Png) : IDisposable
{
    public void Dispose() { }
}

/// <summary>A matched pair under one set of options: what every further click, picture and download reads.</summary>
internal sealed class PairEntry(PairPrediction prediction) : IDisposable
{
    public PairPrediction Prediction { get; } = prediction;
    public ConfidenceMatrix? Confidence { get; set; }
    public MatchResult? Whole { get; set; }
    public void Dispose() { }
}

/// <summary>
/// The server's matching: one backbone, a matcher per set of options, and bounded LRU caches of uploaded images, their
/// hyperpixels and matched pairs, so that a click costs only a transfer of cached matches. Every use goes through one
/// gate: the matchers and the tensor engine are not thread-safe, and the matching itself already uses every core.
/// </summary>
internal sealed class MatchService : IDisposable
{
    public const int MaxPoints = 100;
    public const long MaxUploadBytes = 20L << 20;
    public const long MaxImagePixels = 16_000_000;

    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly Backbone _backbone;
    private readonly LruCache<string, StoredImage> _images = new(32);
    private readonly LruCache<string, HyperpixelMatcher> _matchers = new(4);
    private readonly LruCache<string, ImageDescription> _descriptions = new(16);
    private readonly LruCache<string, PairEntry> _pairs = new(8);

    public MatchService(HyperpixelFlowOptions defaults)
    {
        defaults.Validate();
        Defaults = defaults;
        _backbone = BackboneRegistry.Create(defaults.Hyperpixels.Backbone, defaults.Hyperpixels.WeightsPath, defaults.Runtime.Device);
        DefaultLayers = _backbone.LayersFor(defaults);
    }

    /// <summary>The options the server was started with: requests change only the method settings the page offers.</summary>
    public HyperpixelFlowOptions Defaults { get; }
    public IReadOnlyList<int> DefaultLayers { get; }
    public string BackboneName => _backbone.Name;

    /// <summary>The options of a request: a preset (the server's when absent), then layers, max side and the fast path.</summary>
    public HyperpixelFlowOptions Resolve(RequestOptions? request)
    {
        if (request is null) return Defaults;
        var method = request.Preset is null ? Defaults : WithServerSetup(Presets.Get(request.Preset).Options);
        var options = method with
        {
            Image = method.Image with { MaxSide = request.MaxSide ?? method.Image.MaxSide },
            Hyperpixels = method.Hyperpixels with
            {
                Layers = request.Layers is { Length: > 0 } layers ? layers : method.Hyperpixels.Layers,
                TargetStride = request.Fast is { } fast ? (fast ? 8 : 0) : method.Hyperpixels.TargetStride,
            },
        };
        options.Validate();
        return options;
    }

    /// <summary>A preset's method with the server's network, layers, pruning and runtime (what a page cannot change).</summary>
    public HyperpixelFlowOptions WithServerSetup(HyperpixelFlowOptions method) => method with
    {
        Hyperpixels = method.Hyperpixels with
        {
            Backbone = Defaults.Hyperpixels.Backbone, WeightsPath = Defaults.Hyperpixels.WeightsPath,
            Layers = Defaults.Hyperpixels.Layers, MarginPruning = Defaults.Hyperpixels.MarginPruning,
        },
        Runtime = Defaults.Runtime,
    };

    /// <summary>Decodes an upload and keeps it (<see cref="AddAsync(RgbImage, string, CancellationToken)"/>).</summary>
    public Task<StoredImage> AddAsync(byte[] bytes, string name, CancellationToken cancel)
    {
        RgbImage image;
        try { image = ImageLoader.Decode(bytes, "upload", MaxImagePixels); }
        catch (HyperpixelFlowException e) { throw new WebError(StatusFor(e.Message), e.Message.Replace("upload: ", "")); }
        return AddAsync(image, name, cancel);
    }

    /// <summary>Keeps an image (an upload or an example) with the PNG the page shows; its hyperpixels under the default options are computed now.</summary>
    public async Task<StoredImage> AddAsync(RgbImage image, string name, CancellationToken cancel)
    {
        using var bitmap = image.ToBitmap();
        var stored = new StoredImage(Guid.NewGuid().ToString("N")[..16], name, image, Pictures.EncodePng(bitmap));
        await WithGate(() =>
        {
            _images.GetOrAdd(stored.Id, _ => stored);
            Describe(stored, Defaults);
        }, cancel);
        return stored;
    }

    /// <summary>What a decoding failure is: an unknown format (415), too many pixels or too small (422), damaged data (422).</summary>
    private static int StatusFor(string message) =>
        message.Contains("not a readable image") || message.Contains("file is empty") ? 415 : 422;

    public StoredImage Image(string id) =>
        _images.TryGet(id, out var image) ? image : throw new WebError(404, $"unknown image id '{id}' (upload it again: the server keeps the {_images.Capacity} most recent)");

    /// <summary>Runs work on the matching side, one request at a time, in arrival order.</summary>
    public async Task<T> WithGate<T>(Func<T> work, CancellationToken cancel)
    {
        await _gate.WaitAsync(cancel);
        try { return await Task.Run(work, CancellationToken.None); }
        finally { _gate.Release(); }
    }

    private Task WithGate(Action work, CancellationToken cancel) => WithGate(() => { work(); return 0; }, cancel);

    private static string Key(HyperpixelFlowOptions options, IReadOnlyList<int> layers) =>
        string.Join(";", options.ResultSettings().Select(kv => kv.Key + "=" + kv.Value)) + ";layers=" + string.Join(",", layers);

    private (HyperpixelMatcher Matcher, string Key) Matcher(HyperpixelFlowOptions options)
    {
        var layers = _backbone.LayersFor(options);
        string key = Key(options, layers);
        return (_matchers.GetOrAdd(key, _ => new HyperpixelMatcher(_backbone, options)), key);
    }

    private ImageDescription Describe(StoredImage image, HyperpixelFlowOptions options)
    {
        var (matcher, key) = Matcher(options);
        return _descriptions.GetOrAdd(image.Id + "|" + key, _ => matcher.Describe(image.Image));
    }

    /// <summary>The matched pair (cached); call inside <see cref="WithGate{T}"/>.</summary>
    public (HyperpixelMatcher Matcher, PairEntry Pair) Pair(StoredImage source, StoredImage target, HyperpixelFlowOptions options)
    {
        var (matcher, key) = Matcher(options);
        var pair = _pairs.GetOrAdd(source.Id + "|" + target.Id + "|" + key,
            _ => new PairEntry(matcher.Predict(Describe(source, options), Describe(target, options))));
        return (matcher, pair);
    }

    /// <summary>The pair's confidence matrix (computed on first use, then kept with the pair); inside the gate.</summary>
    public ConfidenceMatrix Confidence(StoredImage source, StoredImage target, HyperpixelFlowOptions options)
    {
        var (matcher, pair) = Pair(source, target, options);
        return pair.Confidence ??= matcher.Confidence(Describe(source, options), Describe(target, options));
    }

    /// <summary>The whole result (flow both ways, hyperpixel matches) for a grid of points, kept with the pair; inside the gate.</summary>
    public MatchResult Whole(StoredImage source, StoredImage target, HyperpixelFlowOptions options)
    {
        var (matcher, pair) = Pair(source, target, options);
        return pair.Whole ??= matcher.Match(pair.Prediction);
    }

    public void Dispose()
    {
        _pairs.Dispose();
        _descriptions.Dispose();
        _matchers.Dispose();
        _images.Dispose();
        _backbone.Dispose();
        _gate.Dispose();
    }
}

/// <summary>The options a page may change; absent ones keep the server's.</summary>
internal sealed record RequestOptions(string? Preset, int[]? Layers, int? MaxSide, bool? Fast);
