using HyperpixelFlow.Backbones;
using HyperpixelFlow.Imaging;
using static TorchSharp.torch;

namespace HyperpixelFlow.Tests;

/// <summary>
/// The bf16 backbone: its features stay close to fp32's where the CPU computes bf16 natively, it is refused with a clear
/// message where it does not, and it is a setting of its own (results logs and calibrations keep it apart).
/// </summary>
public class PrecisionTests
{
    [Fact]
    public void Bf16_features_stay_close_to_fp32_or_bf16_is_refused_on_a_cpu_without_it()
    {
        using var fp32 = BackboneRegistry.Create(BackboneRegistry.DefaultName);
        Assert.Equal(BackbonePrecision.Fp32, fp32.Precision);
        if (!BackbonePrecision.CpuHasBFloat16)
        {
            var refused = Assert.Throws<HyperpixelFlowException>(() => BackboneRegistry.Create(BackboneRegistry.DefaultName, precision: BackbonePrecision.Bf16));
            Assert.Contains("needs a CPU with AVX512-BF16 or AMX", refused.Message);
            return;
        }
        using var bf16 = BackboneRegistry.Create(BackboneRegistry.DefaultName, precision: BackbonePrecision.Bf16);
        Assert.Equal(BackbonePrecision.Bf16, bf16.Precision);
        var image = SyntheticPairs.Create(160, 120).Source.ToTensor();
        int[] layers = [.. fp32.DefaultLayers];
        var reference = fp32.Extract(image, layers);
        var reduced = bf16.Extract(image, layers);
        for (int i = 0; i < layers.Length; i++)
        {
            Assert.Equal(ScalarType.Float32, reduced[i].dtype);
            Assert.Equal(reference[i].shape, reduced[i].shape);
            // bf16 keeps 8 bits of mantissa: a few per cent of the feature scale after a dozen convolutions, not more.
            double error = (reduced[i] - reference[i]).abs().max().item<float>() / (double)reference[i].abs().max().item<float>();
            Assert.InRange(error, 1e-5, 0.05);
            double cosine = nn.functional.cosine_similarity(reduced[i].flatten(), reference[i].flatten(), 0).item<float>();
            Assert.True(cosine > 0.999, $"layer {layers[i]}: cosine {cosine}");
        }
    }

    [Fact]
    public void Precision_is_a_setting_of_its_own_and_must_agree_with_the_backbone()
    {
        var bf16 = new HyperpixelFlowOptions() with { Hyperpixels = new() { Precision = BackbonePrecision.Bf16 } };
        Assert.Equal("fp32", new HyperpixelFlowOptions().ResultSettings()["Hyperpixels.Precision"]);
        Assert.Equal("bf16", bf16.ResultSettings()["Hyperpixels.Precision"]);
        // Each has its own calibration; a bf16 setting without one (a lever changed) gets none, not fp32's.
        int[] layers = [1, 2, 4, 5, 6, 8];
        var forBf16 = Calibration.ConfidenceCalibration.For(Calibration.ConfidenceCalibration.KeyOf(BackboneRegistry.DefaultName, layers, bf16));
        var forFp32 = Calibration.ConfidenceCalibration.For(Calibration.ConfidenceCalibration.KeyOf(BackboneRegistry.DefaultName, layers, new HyperpixelFlowOptions()));
        Assert.Contains("Hyperpixels.Precision=bf16", forBf16!.Key);
        Assert.Contains("Hyperpixels.Precision=fp32", forFp32!.Key);
        var flippedBf16 = bf16 with { Image = bf16.Image with { FlipTarget = true } };
        Assert.Null(Calibration.ConfidenceCalibration.For(Calibration.ConfidenceCalibration.KeyOf(BackboneRegistry.DefaultName, layers, flippedBf16)));
        using var fp32 = BackboneRegistry.Create(BackboneRegistry.DefaultName);
        Assert.Contains("computes in fp32, the options ask for bf16", Assert.Throws<HyperpixelFlowException>(() => new HyperpixelMatcher(fp32, bf16)).Message);
        Assert.Contains("precision 'fp16' is not fp32 or bf16",
            Assert.Throws<HyperpixelFlowException>(() => (new HyperpixelFlowOptions() with { Hyperpixels = new() { Precision = "fp16" } }).Validate()).Message);
    }
}
