using System.Reflection;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace HyperpixelFlow.Calibration;

/// <summary>
/// A calibrated confidence: the probability that a transferred point is right (within 0.1 x the target object's
/// bounding-box side, the PCK@0.1 rule), from logistic models over <see cref="PointSignals"/>: the set model for a
/// point of an annotation of at least <see cref="SetSignals.MinimumPoints"/> points transferred together (what the set
/// says about the object's size and where the point should land), the point model otherwise. A calibration belongs to one
/// setting (<see cref="Key"/>: backbone, bundled weights, layers, every result-changing option) and is used for that
/// setting only: any other gets no calibrated confidence rather than a wrong one. Fitted on PF-WILLOW val by
/// <c>hpf calibrate</c>; the shipped ones are embedded from <c>src/HyperpixelFlow/Calibration/*.json</c>.
/// </summary>
internal sealed record ConfidenceCalibration(
    int Format, string Key, string Description, string FittedOn, string CorrectRule, LogisticModel PointModel, LogisticModel? SetModel,
    int LargestSetPoints, IReadOnlyDictionary<string, double> Validation)
{
    public const int CurrentFormat = 2;

    private static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
    };

    /// <summary>
    /// P(correct) of a point: by the set model where the point came with a set (and the calibration has one). A set
    /// larger than any the model was fitted on counts as the largest: its size is not extrapolated.
    /// </summary>
    public double Probability(PointSignals signals) => SetModel is not null && signals.Set is { } set
        ? SetModel.Probability((signals with { Set = set with { Points = Math.Min(set.Points, LargestSetPoints) } }).SetFeatures())
        : PointModel.Probability(signals.PointFeatures());

    /// <summary>
    /// The setting a calibration belongs to: backbone, weights ("bundled", or the SHA-256 of the weights file, which is
    /// read to hash it), layers and every setting that changes results.
    /// </summary>
    public static string KeyOf(string backbone, IReadOnlyList<int> layers, HyperpixelFlowOptions options) =>
        $"backbone={backbone};weights={WeightsIdentity(options)};layers={string.Join(",", layers)};" +
        string.Join(";", options.ResultSettings().Select(kv => kv.Key + "=" + kv.Value));

    private static string WeightsIdentity(HyperpixelFlowOptions options) =>
        options.Hyperpixels.WeightsPath is { } path ? FileHashes.Identity(path) : "bundled";

    /// <summary>
    /// A calibration file fitted for exactly the setting <paramref name="key"/> (what <c>hpf calibrate --out</c> writes);
    /// a clear error naming the differing settings for one fitted for another.
    /// </summary>
    public static ConfidenceCalibration ReadFor(string path, string key)
    {
        if (!File.Exists(path)) throw new HyperpixelFlowException($"calibration file not found: {path}");
        ConfidenceCalibration calibration;
        using (var stream = File.OpenRead(path)) calibration = Read(stream, path);
        if (calibration.Key == key) return calibration;
        var mine = key.Split(';').ToHashSet(StringComparer.Ordinal);
        var theirs = calibration.Key!.Split(';');
        var differences = theirs.Where(part => !mine.Contains(part)).Take(4).ToList();
        throw new HyperpixelFlowException($"{path} was fitted for other settings ({string.Join("; ", differences)}" +
            $"{(differences.Count == 0 ? "fewer settings" : "")}); fit one for these with hpf calibrate");
    }

    private static readonly Lazy<IReadOnlyList<ConfidenceCalibration>> Shipped = new(() =>
    {
        var assembly = Assembly.GetExecutingAssembly();
        return assembly.GetManifestResourceNames().Where(n => n.StartsWith("calibration/", StringComparison.Ordinal)).Order(StringComparer.Ordinal)
            .Select(n =>
            {
                using var stream = assembly.GetManifestResourceStream(n)!;
                return Read(stream, n);
            }).ToList();
    });

    /// <summary>The shipped calibrations.</summary>
    public static IReadOnlyList<ConfidenceCalibration> All => Shipped.Value;

    /// <summary>The shipped calibration of exactly this setting, or null.</summary>
    public static ConfidenceCalibration? For(string? key) => key is null ? null : All.FirstOrDefault(c => c.Key == key);

    /// <summary>Reads a calibration file; a clear error for a damaged one or one made for other signals.</summary>
    public static ConfidenceCalibration Read(Stream stream, string name)
    {
        ConfidenceCalibration? calibration;
        try { calibration = JsonSerializer.Deserialize<ConfidenceCalibration>(stream, Json); }
        catch (JsonException e) { throw new HyperpixelFlowException($"{name}: not a calibration file ({e.Message.Split(". Path:")[0]})"); }
        if (calibration is null || calibration.Format != CurrentFormat)
            throw new HyperpixelFlowException($"{name}: calibration format {calibration?.Format} is not {CurrentFormat}; refit it with hpf calibrate");
        // The deserializer leaves absent or null fields null whatever their declared type.
        if (calibration.Key is null || calibration.PointModel is not { IsComplete: true } || calibration.SetModel is { IsComplete: false })
            throw new HyperpixelFlowException($"{name}: a calibration file without its key, features or coefficients");
        if (!calibration.PointModel.IsFor(PointSignals.PointFeatureNames) || calibration.SetModel is { } set
            && (!set.IsFor(PointSignals.SetFeatureNames) || calibration.LargestSetPoints is < SetSignals.MinimumPoints or > SetSignals.MaximumPoints))
            throw new HyperpixelFlowException($"{name}: made for other signals than this version computes; refit it with hpf calibrate");
        return calibration;
    }

    /// <summary>The calibration as the indented JSON of its file.</summary>
    public string ToJson() => JsonSerializer.Serialize(this, Json) + "\n";

    /// <summary>Writes the calibration's file.</summary>
    public void Write(string path) => File.WriteAllText(path, ToJson());
}

/// <summary>A logistic model: P = sigmoid(bias + sum of weights x standardised features).</summary>
internal sealed record LogisticModel(IReadOnlyList<string> Features, double[] Mean, double[] Scale, double[] Weights, double Bias)
{
    /// <summary>P(correct) of one feature vector (in <see cref="Features"/>' order).</summary>
    public double Probability(double[] x)
    {
        double z = Bias;
        for (int i = 0; i < x.Length; i++) z += Weights[i] * (x[i] - Mean[i]) / Scale[i];
        return 1 / (1 + Math.Exp(-z));
    }

    /// <summary>Whether every field is there (the deserializer leaves absent or null fields null whatever their declared type).</summary>
    public bool IsComplete => Features is not null && Mean is not null && Scale is not null && Weights is not null;

    /// <summary>Whether the model reads exactly these features, with finite coefficients (what a file must hold).</summary>
    public bool IsFor(IReadOnlyList<string> features)
    {
        int n = features.Count;
        return Features.SequenceEqual(features) && Mean.Length == n && Scale.Length == n && Weights.Length == n
            && Scale.All(s => s > 0 && double.IsFinite(s)) && Mean.Concat(Weights).Append(Bias).All(double.IsFinite);
    }

    /// <summary>
    /// Fits a logistic model to points known right or wrong: features standardised, weights by Newton's method
    /// (iteratively reweighted least squares) with a small ridge penalty so that separable or collinear features
    /// stay finite.
    /// </summary>
    public static LogisticModel Fit(IReadOnlyList<string> features, IReadOnlyList<double[]> points, IReadOnlyList<bool> correct, double ridge = 1e-2)
    {
        if (points.Count != correct.Count) throw new ArgumentException("one label per point");
        if (points.Count < 20 || correct.All(c => c) || !correct.Any(c => c))
            throw new HyperpixelFlowException($"a calibration needs right and wrong points, at least 20 in all ({points.Count} given)");
        var raw = points.ToArray();
        int n = raw.Length, d = raw[0].Length;
        var mean = new double[d];
        var scale = new double[d];
        for (int j = 0; j < d; j++)
        {
            mean[j] = raw.Average(x => x[j]);
            double sd = Math.Sqrt(raw.Average(x => (x[j] - mean[j]) * (x[j] - mean[j])));
            scale[j] = sd > 1e-12 ? sd : 1;
        }
        // Design matrix with the bias as the last column.
        var x = raw.Select(r => Enumerable.Range(0, d).Select(j => (r[j] - mean[j]) / scale[j]).Append(1.0).ToArray()).ToArray();
        var w = new double[d + 1];
        for (int iteration = 0; iteration < 50; iteration++)
        {
            var gradient = new double[d + 1];
            var hessian = new double[d + 1, d + 1];
            for (int i = 0; i < n; i++)
            {
                double z = 0;
                for (int j = 0; j <= d; j++) z += w[j] * x[i][j];
                double p = 1 / (1 + Math.Exp(-z)), r = (correct[i] ? 1 : 0) - p, s = p * (1 - p);
                for (int j = 0; j <= d; j++)
                {
                    gradient[j] += r * x[i][j];
                    for (int k = 0; k <= j; k++) hessian[j, k] += s * x[i][j] * x[i][k];
                }
            }
            for (int j = 0; j <= d; j++)
            {
                for (int k = 0; k < j; k++) hessian[k, j] = hessian[j, k];
                if (j < d)
                {
                    gradient[j] -= ridge * n * w[j];
                    hessian[j, j] += ridge * n;
                }
            }
            var step = Solve(hessian, gradient);
            double change = 0;
            for (int j = 0; j <= d; j++)
            {
                w[j] += step[j];
                change = Math.Max(change, Math.Abs(step[j]));
            }
            if (change < 1e-9) break;
        }
        return new LogisticModel(features, mean, scale, w[..d], w[d]);
    }

    /// <summary>Solves A x = b for a symmetric positive definite A (Cholesky).</summary>
    private static double[] Solve(double[,] a, double[] b)
    {
        int n = b.Length;
        var l = new double[n, n];
        for (int i = 0; i < n; i++)
            for (int j = 0; j <= i; j++)
            {
                double sum = a[i, j];
                for (int k = 0; k < j; k++) sum -= l[i, k] * l[j, k];
                l[i, j] = i == j ? Math.Sqrt(Math.Max(sum, 1e-12)) : sum / l[j, j];
            }
        var y = new double[n];
        for (int i = 0; i < n; i++)
        {
            double sum = b[i];
            for (int k = 0; k < i; k++) sum -= l[i, k] * y[k];
            y[i] = sum / l[i, i];
        }
        var x = new double[n];
        for (int i = n - 1; i >= 0; i--)
        {
            double sum = y[i];
            for (int k = i + 1; k < n; k++) sum -= l[k, i] * x[k];
            x[i] = sum / l[i, i];
        }
        return x;
    }
}
