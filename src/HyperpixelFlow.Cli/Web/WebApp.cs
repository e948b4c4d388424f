using System.Reflection;
using System.Text.Json;
using HyperpixelFlow.Flow;
using HyperpixelFlow.Imaging;
using HyperpixelFlow.Visualization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using System.Threading.RateLimiting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace HyperpixelFlow.Cli.Web;

/// <summary>A match request: two image ids, points in original source pixels, the options the page changed.</summary>
internal sealed record MatchRequest(string? Source, string? Target, double[][]? Points, double[]? Point, RequestOptions? Options);

/// <summary>
/// The web app of <c>hpf serve</c>: the page (embedded static files) and the JSON API it uses (documented in README).
/// Every failure becomes <c>{"error": "..."}</c> with a status that says what happened; the server goes on.
/// </summary>
internal static class WebApp
{
    internal static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals,
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,   // readable messages: 'id', not \u0027id\u0027
    };

    public static WebApplication Create(MatchService service, string host, int port, ServeAccess access)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.Limits.MaxRequestBodySize = MatchService.MaxUploadBytes + (64 << 10);
            if (host == "localhost") k.ListenLocalhost(port);
            else k.Listen(System.Net.IPAddress.Parse(host), port);
        });
        builder.Services.Configure<Microsoft.AspNetCore.Http.Features.FormOptions>(f => f.MultipartBodyLengthLimit = MatchService.MaxUploadBytes + (64 << 10));
        if (access.RequestsPerSecond > 0)
            builder.Services.AddRateLimiter(limits =>
            {
                limits.GlobalLimiter = PartitionedRateLimiter.Create<HttpContext, string>(context => RateLimitPartition.GetTokenBucketLimiter(
                    context.Connection.RemoteIpAddress?.ToString() ?? "unknown", _ => new TokenBucketRateLimiterOptions
                    {
                        TokenLimit = 4 * access.RequestsPerSecond,
                        TokensPerPeriod = access.RequestsPerSecond,
                        ReplenishmentPeriod = TimeSpan.FromSeconds(1),
                        QueueLimit = 0,
                        AutoReplenishment = true,
                    }));
                limits.OnRejected = (rejected, cancel) =>
                {
                    rejected.HttpContext.Response.StatusCode = 429;
                    return new ValueTask(rejected.HttpContext.Response.WriteAsJsonAsync(
                        new { error = $"too many requests: at most {access.RequestsPerSecond} a second per client" }, Json, cancel));
                };
            });
        var app = builder.Build();
        if (access.RequestsPerSecond > 0) app.UseRateLimiter();
        app.Use(async (context, next) =>
        {
            if (context.Request.Path.StartsWithSegments("/api") && !access.Allows(context.Request))
            {
                context.Response.StatusCode = 401;
                await context.Response.WriteAsJsonAsync(new { error = "this server needs its token: open the address hpf serve printed (it ends in ?token=...), or send the header X-Hpf-Token" }, Json);
                return;
            }
            await next(context);
        });
        app.Use(async (context, next) =>
        {
            try { await next(context); }
            catch (Exception e) when (!context.Response.HasStarted && !context.RequestAborted.IsCancellationRequested)
            {
                var (status, message) = Describe(e);
                context.Response.Clear();
                context.Response.StatusCode = status;
                await context.Response.WriteAsJsonAsync(new { error = message }, Json);
            }
        });
        MapPage(app);
        MapApi(app, service);
        return app;
    }

    /// <summary>The address the server listens on, once started.</summary>
    public static string Address(WebApplication app) =>
        app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();

    private static (int Status, string Message) Describe(Exception e) => e switch
    {
        WebError w => (w.Status, w.Message),
        HyperpixelFlowException h => (422, h.Message),
        JsonException j => (400, "malformed JSON: " + (j.Message.Split(". Path:")[0])),
        BadHttpRequestException { StatusCode: 413 } => (413, $"the upload is larger than the limit of {MatchService.MaxUploadBytes >> 20} MB"),
        BadHttpRequestException b => (b.StatusCode, b.Message),
        InvalidDataException d => (400, d.Message.Contains("length limit") ? $"the upload is larger than the limit of {MatchService.MaxUploadBytes >> 20} MB" : d.Message),
        _ => (500, $"unexpected failure: {e.GetType().Name}: {e.Message}"),
    };

    private static void MapPage(WebApplication app)
    {
        var assembly = Assembly.GetExecutingAssembly();
        foreach (var (path, resource, type) in new[]
        {
            ("/", "wwwroot/index.html", "text/html; charset=utf-8"),
            ("/app.js", "wwwroot/app.js", "text/javascript; charset=utf-8"),
            ("/app.css", "wwwroot/app.css", "text/css; charset=utf-8"),
        })
        {
            using var stream = assembly.GetManifestResourceStream(resource) ?? throw new InvalidOperationException($"{resource} is not embedded");
            var bytes = new byte[stream.Length];
            stream.ReadExactly(bytes);
            app.MapGet(path, () => Results.Bytes(bytes, type));
        }
    }

    /// <summary>The JSON API: one route, one handler (<see cref="WebApi"/>).</summary>
    private static void MapApi(WebApplication app, MatchService service)
    {
        var api = new WebApi(service);
        app.MapGet("/api/health", api.Health);
        app.MapGet("/api/options", api.Options);
        app.MapPost("/api/images", api.UploadImageAsync).DisableAntiforgery();
        app.MapGet("/api/images/{id}", api.ImageAsync);
        app.MapGet("/api/examples", WebApi.Examples);
        app.MapPost("/api/examples/{name}", api.LoadExampleAsync);
        app.MapPost("/api/match", api.MatchAsync);
        app.MapPost("/api/heatmap", api.HeatMapAsync);
        app.MapPost("/api/pictures/{kind}", api.PictureAsync);
        app.MapPost("/api/hyperpixel-matches", api.HyperpixelMatchesAsync);
        app.MapPost("/api/result", api.ResultAsync);
        app.MapFallback((HttpContext context) =>
        {
            context.Response.StatusCode = 404;
            return context.Response.WriteAsJsonAsync(new { error = $"no such address: {context.Request.Method} {context.Request.Path}" }, Json);
        });
    }
}

/// <summary>The handlers of the JSON API, one per route; failures are thrown and turned into {"error"} by <see cref="WebApp"/>.</summary>
internal sealed class WebApi(MatchService service)
{
    private static JsonSerializerOptions Json => WebApp.Json;

    public IResult Health() => Results.Json(new { status = "ok", backbone = service.BackboneName }, Json);

    public IResult Options() => Results.Json(new
    {
        backbone = service.BackboneName,
        preset = Presets.All.FirstOrDefault(p => service.WithServerSetup(p.Options).ResultSettings().SequenceEqual(service.Defaults.ResultSettings()))?.Name,
        presets = Presets.All.Select(p => new { name = p.Name, description = p.Description }),
        layers = service.DefaultLayers,
        max_side = service.Defaults.Image.MaxSide,
        fast = service.Defaults.Hyperpixels.EffectiveTargetStride > 0,
        method = service.Defaults.DescribeMethod(),
        max_points = MatchService.MaxPoints,
        max_upload_bytes = MatchService.MaxUploadBytes,
        max_image_pixels = MatchService.MaxImagePixels,
    }, Json);

    public async Task<IResult> UploadImageAsync(HttpRequest request, CancellationToken cancel)
    {
        if (request.ContentLength > MatchService.MaxUploadBytes)
            throw new WebError(413, $"the upload is {request.ContentLength} bytes, more than the limit of {MatchService.MaxUploadBytes >> 20} MB");
        if (!request.HasFormContentType) throw new WebError(400, "expected a multipart/form-data upload with the image in the field 'file'");
        var form = await request.ReadFormAsync(cancel);
        var file = form.Files.GetFile("file") ?? throw new WebError(400, "the upload has no field 'file'");
        if (file.Length > MatchService.MaxUploadBytes)
            throw new WebError(413, $"the image is {file.Length} bytes, more than the limit of {MatchService.MaxUploadBytes >> 20} MB");
        using var memory = new MemoryStream();
        await file.CopyToAsync(memory, cancel);
        var stored = await service.AddAsync(memory.ToArray(), Path.GetFileName(file.FileName ?? "image"), cancel);
        return Results.Json(ImageJson(stored), Json);
    }

    public async Task<IResult> ImageAsync(string id, CancellationToken cancel) =>
        Results.Bytes(await service.WithGate(() => service.Image(id).Png, cancel), "image/png");

    public static IResult Examples() => Results.Json(ExamplePairs.Select(e => new { name = e.Name, title = e.Title }), Json);

    public async Task<IResult> LoadExampleAsync(string name, CancellationToken cancel)
    {
        var example = ExamplePairs.FirstOrDefault(e => e.Name == name);
        if (example.Create is null) throw new WebError(404, $"unknown example '{name}'; known: {string.Join(", ", ExamplePairs.Select(e => e.Name))}");
        var pair = example.Create();
        var source = await service.AddAsync(pair.Source, example.Name + "-source.png", cancel);
        var target = await service.AddAsync(pair.Target, example.Name + "-target.png", cancel);
        return Results.Json(new { source = ImageJson(source), target = ImageJson(target) }, Json);
    }

    public async Task<IResult> MatchAsync(HttpRequest request, CancellationToken cancel)
    {
        var started = System.Diagnostics.Stopwatch.StartNew();
        return Results.Json(await OnPairAsync(request, (body, options, source, target) =>
        {
            var points = Points(body, source);
            var (matcher, pair) = service.Pair(source, target, options);
            return new
            {
                points = pair.Prediction.MatchAll(points).Select((m, i) => ResultJson.Point(m, i + 1)).ToList(),
                method = options.DescribeMethod(),
                layers = matcher.Layers,
                server_ms = Math.Round(started.Elapsed.TotalMilliseconds, 2),
            };
        }, cancel), Json);
    }

    public async Task<IResult> HeatMapAsync(HttpRequest request, CancellationToken cancel) =>
        Results.Json(await OnPairAsync(request, (body, options, source, target) =>
        {
            if (body.Point is not { Length: 2 }) throw new WebError(400, "'point' must be [x, y] in source pixels");
            var point = new Point2(body.Point[0], body.Point[1]);
            HyperpixelMatcher.ValidatePoints([point], source.Image.Width, source.Image.Height);
            var map = service.Confidence(source, target, options).Row(point);
            return new
            {
                source_hyperpixel = new[] { map.SourceHyperpixel.X, map.SourceHyperpixel.Y },
                width = map.Width,
                height = map.Height,
                first_center = new[] { map.FirstCenter.X, map.FirstCenter.Y },
                step = new[] { map.Step.X, map.Step.Y },
                values = map.Values.Select(v => MathF.Round(v, 4)),
            };
        }, cancel), Json);

    /// <summary>Both pictures are in the target's frame, to lie over it: "flow" colours each target pixel by the
    /// displacement that brought it from the source (the inverse flow, reversed); "warped" is the source resampled there.</summary>
    public async Task<IResult> PictureAsync(string kind, HttpRequest request, HttpResponse response, CancellationToken cancel)
    {
        if (kind is not ("flow" or "warped")) throw new WebError(404, $"unknown picture '{kind}'; known: flow, warped");
        var (png, fullColour) = await OnPairAsync(request, (_, options, source, target) =>
        {
            var whole = service.Whole(source, target, options);
            if (kind == "warped")
            {
                using var warped = Pictures.Warp(source.Image, whole.InverseFlow);
                return (Pictures.EncodePng(warped), 0.0);
            }
            var arriving = new FlowField(whole.InverseFlow.Width, whole.InverseFlow.Height, whole.InverseFlow.Data.Select(v => -v).ToArray());
            using var colours = Pictures.FlowColors(arriving, legend: false);
            return (Pictures.EncodePng(colours), Pictures.FullColourMagnitude(arriving));
        }, cancel);
        if (kind == "flow") response.Headers["X-Full-Colour-Px"] = fullColour.ToString("0.#", System.Globalization.CultureInfo.InvariantCulture);
        return Results.Bytes(png, "image/png");
    }

    public async Task<IResult> HyperpixelMatchesAsync(HttpRequest request, CancellationToken cancel) =>
        Results.Json(await OnPairAsync(request, (_, options, source, target) =>
        {
            var whole = service.Whole(source, target, options);
            return new
            {
                format = "[source x, source y, target x, target y, confidence 0..1] per mutual best hyperpixel match: box centres, original pixels",
                matches = whole.HyperpixelMatches.Where(m => m.Mutual).Select(m => new[]
                    { Math.Round(m.Source.X, 2), Math.Round(m.Source.Y, 2), Math.Round(m.Target.X, 2), Math.Round(m.Target.Y, 2), Math.Round(m.Confidence, 4) }),
            };
        }, cancel), Json);

    public async Task<IResult> ResultAsync(HttpRequest request, CancellationToken cancel) =>
        Results.Text(await OnPairAsync(request, (body, options, source, target) =>
        {
            var (matcher, pair) = service.Pair(source, target, options);
            return ResultJson.Serialize(matcher.Match(pair.Prediction, Points(body, source)), source.Name, target.Name, withHyperpixelMatches: false);
        }, cancel), "application/json");

    private static object ImageJson(StoredImage image) => new { id = image.Id, width = image.Image.Width, height = image.Image.Height, name = image.Name };

    /// <summary>Example pairs shipped with the program: drawn by it, so nothing with a licence of its own is bundled.</summary>
    private static readonly (string Name, string Title, Func<SyntheticPair> Create)[] ExamplePairs =
    [
        ("synthetic", "the demo's synthetic pair (shapes moved, scaled and recoloured)", () => SyntheticPairs.Create()),
        ("synthetic-2", "another synthetic pair (seed 2)", () => SyntheticPairs.Create(seed: 2)),
    ];

    private static async Task<MatchRequest> ReadAsync(HttpRequest request, CancellationToken cancel)
    {
        if (request.ContentType?.StartsWith("application/json", StringComparison.OrdinalIgnoreCase) != true)
            throw new WebError(415, "send the request as application/json");
        var body = await JsonSerializer.DeserializeAsync<MatchRequest>(request.Body, Json, cancel) ?? throw new WebError(400, "malformed JSON: empty body");
        if (string.IsNullOrEmpty(body.Source) || string.IsNullOrEmpty(body.Target)) throw new WebError(400, "'source' and 'target' (image ids) are required");
        return body;
    }

    /// <summary>
    /// The frame of every request about a pair: the body read and checked, its options resolved, then the work on the
    /// two stored images inside the service's gate.
    /// </summary>
    private async Task<T> OnPairAsync<T>(HttpRequest request,
        Func<MatchRequest, HyperpixelFlowOptions, StoredImage, StoredImage, T> work, CancellationToken cancel)
    {
        var body = await ReadAsync(request, cancel);
        var options = service.Resolve(body.Options);
        return await service.WithGate(() => work(body, options, service.Image(body.Source!), service.Image(body.Target!)), cancel);
    }

    private static IReadOnlyList<Point2> Points(MatchRequest body, StoredImage source)
    {
        var given = body.Points ?? throw new WebError(400, "'points' ([[x, y], ...] in source pixels) is required");
        if (given.Length > MatchService.MaxPoints) throw new WebError(422, $"{given.Length} points; at most {MatchService.MaxPoints} per request");
        var points = given.Select((p, i) => p is { Length: 2 } ? new Point2(p[0], p[1])
            : throw new WebError(400, $"point {i + 1} must be [x, y]")).ToList();
        HyperpixelMatcher.ValidatePoints(points, source.Image.Width, source.Image.Height);
        return points;
    }
}
