using System.Globalization;
using System.Text.Json;
using HyperpixelFlow.Flow;
using Microsoft.Playwright;

namespace HyperpixelFlow.Tests;

/// <summary>
/// The page end to end in a real browser: Playwright driving Debian's chromium (Playwright's own browser download
/// cannot work here). Screenshots are kept in TestResults/web/ as the run's artefacts.
/// </summary>
[Trait("Category", TestCategory.System)]
public class WebPageTests(HpfServer server) : IClassFixture<HpfServer>
{
    private const string Chromium = "/usr/bin/chromium";
    private static readonly string Artifacts = Directory.CreateDirectory(Path.Combine(SharedData.RepoRoot, "TestResults", "web")).FullName;

    private static void RequireChromium()
    {
        if (File.Exists(Chromium)) return;
        string message = $"{Chromium} not found (apt-get install -y chromium)";
        if (string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase))
            throw new InvalidOperationException(message + "; CI must provide it (.ci/run installs it)");
        Skip.If(true, message);
    }

    private static double Attr(string? value) => double.Parse(value!, CultureInfo.InvariantCulture);

    [SkippableFact]
    public async Task Clicks_show_the_library_matches_heat_map_flow_download_and_errors()
    {
        RequireChromium();
        using var playwright = await Playwright.CreateAsync();
        await using var browser = await playwright.Chromium.LaunchAsync(new() { ExecutablePath = Chromium, Headless = true });
        var page = await browser.NewPageAsync(new() { ViewportSize = new() { Width = 1400, Height = 1000 }, AcceptDownloads = true });
        var consoleErrors = new List<string>();
        page.Console += (_, m) => { if (m.Type == "error") consoleErrors.Add(m.Text); };
        page.PageError += (_, e) => consoleErrors.Add(e);
        try { await Run(page, consoleErrors); }
        catch
        {
            await page.ScreenshotAsync(new() { Path = Path.Combine(Artifacts, "failure.png") });
            File.WriteAllLines(Path.Combine(Artifacts, "failure-console.txt"), consoleErrors);
            throw;
        }
    }

    private async Task Run(IPage page, List<string> consoleErrors)
    {
        await page.GotoAsync(server.Address);
        await page.WaitForSelectorAsync("body[data-ready=true]");

        await page.SetInputFilesAsync("#source-file", server.SourcePath);
        await page.SetInputFilesAsync("#target-file", server.TargetPath);
        foreach (var img in new[] { "#source-img", "#target-img" })
            await page.WaitForFunctionAsync($"document.querySelector('{img}').naturalWidth > 0");

        var box = (await page.Locator("#source-img").BoundingBoxAsync())!;
        (double X, double Y)[] clicks = [(0.22, 0.3), (0.5, 0.55), (0.78, 0.7)];
        for (int i = 0; i < clicks.Length; i++)
        {
            await page.Mouse.ClickAsync((float)(box.X + clicks[i].X * box.Width), (float)(box.Y + clicks[i].Y * box.Height));
            await page.WaitForFunctionAsync($"document.querySelectorAll('circle.target-marker').length === {i + 1}");
        }
        var sources = await page.Locator("circle.source-marker").EvaluateAllAsync<double[][]>("els => els.map(e => [+e.getAttribute('cx'), +e.getAttribute('cy')])");
        var targets = await page.Locator("circle.target-marker").EvaluateAllAsync<double[][]>("els => els.map(e => [+e.getAttribute('cx'), +e.getAttribute('cy')])");
        Assert.Equal(3, sources.Length);
        var points = sources.Select(p => new Point2(p[0], p[1])).ToList();
        for (int i = 0; i < 3; i++)   // the page placed the points where the clicks were (original pixels, 400 x 300)
        {
            Assert.InRange(points[i].X, clicks[i].X * 400 - 2, clicks[i].X * 400 + 2);
            Assert.InRange(points[i].Y, clicks[i].Y * 300 - 2, clicks[i].Y * 300 + 2);
        }
        var library = HpfServer.Library(server.SourcePath, server.TargetPath, points);
        for (int i = 0; i < 3; i++)
        {
            Assert.InRange(targets[i][0], library.Points[i].Target.X - 1, library.Points[i].Target.X + 1);
            Assert.InRange(targets[i][1], library.Points[i].Target.Y - 1, library.Points[i].Target.Y + 1);
        }
        Assert.Equal(3, await page.Locator("#point-rows tr").CountAsync());

        // Drag point 1 by (+40, +15) original pixels: its match follows, as the library gives it for the new point.
        double sx = box.Width / 400, sy = box.Height / 300;
        await page.Mouse.MoveAsync((float)(box.X + points[0].X * sx), (float)(box.Y + points[0].Y * sy));
        await page.Mouse.DownAsync();
        await page.Mouse.MoveAsync((float)(box.X + (points[0].X + 40) * sx), (float)(box.Y + (points[0].Y + 15) * sy), new() { Steps = 8 });
        await page.Mouse.UpAsync();
        sources = await page.Locator("circle.source-marker").EvaluateAllAsync<double[][]>("els => els.map(e => [+e.getAttribute('cx'), +e.getAttribute('cy')])");
        Assert.InRange(sources[0][0], points[0].X + 38, points[0].X + 42);
        Assert.InRange(sources[0][1], points[0].Y + 13, points[0].Y + 17);
        points = sources.Select(p => new Point2(p[0], p[1])).ToList();
        library = HpfServer.Library(server.SourcePath, server.TargetPath, points);
        var moved = library.Points[0].Target;
        await page.WaitForFunctionAsync(FormattableString.Invariant(
            $"(() => {{ const m = document.querySelector('circle.target-marker[data-index=\"0\"]'); return m && Math.abs(+m.getAttribute('cx') - {moved.X}) <= 1 && Math.abs(+m.getAttribute('cy') - {moved.Y}) <= 1; }})()"));

        // Heat map of the last point (on by default): drawn, with visible pixels.
        await page.WaitForSelectorAsync("#heat[data-rendered=true]", new() { State = WaitForSelectorState.Attached });
        Assert.True(await page.EvaluateAsync<bool>("(() => { const c = document.getElementById('heat'); const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; for (let i = 3; i < d.length; i += 4) if (d[i] > 0) return true; return false; })()"));
        await page.ScreenshotAsync(new() { Path = Path.Combine(Artifacts, "page-heatmap.png") });

        // Flow view: a picture of the whole source image appears over the target.
        await page.CheckAsync("#show-flow");
        await page.WaitForFunctionAsync("(() => { const i = document.getElementById('flow-img'); return !i.hidden && i.naturalWidth === 400; })()");
        await page.CheckAsync("#show-hp");
        await page.WaitForFunctionAsync("document.querySelectorAll('line.hp-line').length > 0");
        await page.ScreenshotAsync(new() { Path = Path.Combine(Artifacts, "page-flow.png") });
        await page.UncheckAsync("#show-flow");
        await page.UncheckAsync("#show-hp");

        // Download: the same result.json as the library's result for these points.
        var download = await page.RunAndWaitForDownloadAsync(() => page.ClickAsync("#download"));
        string saved = Path.Combine(server.Dir, "downloaded.json");
        await download.SaveAsAsync(saved);
        var json = JsonDocument.Parse(File.ReadAllText(saved)).RootElement;
        var downloaded = json.GetProperty("points").EnumerateArray().ToList();
        Assert.Equal(3, downloaded.Count);
        for (int i = 0; i < 3; i++)
        {
            Assert.Equal(library.Points[i].Source.X, downloaded[i].GetProperty("source")[0].GetDouble());
            Assert.Equal(library.Points[i].Target.X, downloaded[i].GetProperty("target")[0].GetDouble());
            Assert.Equal(library.Points[i].Target.Y, downloaded[i].GetProperty("target")[1].GetDouble());
            Assert.Equal(Math.Round(library.Points[i].Confidence, 4), downloaded[i].GetProperty("confidence").GetDouble());
        }
        Assert.Equal(library.Diagnostics.Matching, json.GetProperty("method").GetString());
        await page.ScreenshotAsync(new() { Path = Path.Combine(Artifacts, "page.png") });

        // Right-click removes a point, the button clears them all.
        await page.Locator("circle.source-marker[data-index=\"2\"]").ClickAsync(new() { Button = MouseButton.Right });
        await page.WaitForFunctionAsync("document.querySelectorAll('circle.source-marker').length === 2 && document.querySelectorAll('#point-rows tr').length === 2");
        await page.ClickAsync("#clear");
        await page.WaitForFunctionAsync("document.querySelectorAll('circle.source-marker').length === 0 && document.querySelectorAll('circle.target-marker').length === 0");

        // A text file: a readable message on the page, not an empty panel.
        string text = Path.Combine(server.Dir, "notes.txt");
        File.WriteAllText(text, "not an image");
        await page.SetInputFilesAsync("#target-file", text);
        await page.WaitForSelectorAsync("#error:not([hidden])");
        Assert.Contains("not a readable image", await page.InnerTextAsync("#error"));
        await page.ScreenshotAsync(new() { Path = Path.Combine(Artifacts, "page-error.png") });
        Assert.DoesNotContain(consoleErrors, e => !e.Contains("415"));   // the refused upload's own network line is expected
    }
}
