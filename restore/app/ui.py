"""The app's page: four tabs whose buttons call :mod:`restore.app.handlers` through :func:`shown_in_page`.

Uploads are ``gr.File`` rather than ``gr.Image``: ``gr.Image`` hands the handler an 8-bit RGB copy,
which would lose 16-bit samples and alpha before the upscaler sees them; a file path reaches
:func:`restore.io.load` intact. Element ids (``upscale-input``, ``upscale-run``...) are what the browser
test drives, so they are part of the page's contract.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import gradio as gr

from restore.app import handlers
from restore.app.config import AppConfig
from restore.app.crop_view import CROP_SIDE, full_size_crops
from restore.app.crop_view import thumbnail as thumbnail_of
from restore.app.errors import shown_in_page
from restore.app.uploads import GuardedBlocks, guard_uploads
from restore.app.examples import EXAMPLES_DIR, examples
from restore.io.suffixes import IMAGE_SUFFIXES

__all__ = ["build_app"]

SCALES = [2, 3, 4]
TILE_CHOICES = ["auto", "none", "128", "256", "512"]
PRECISIONS = ["auto", "fp32", "fp16", "bf16"]
IMAGE_TYPES = list(IMAGE_SUFFIXES)
OWN_SIZE = "the content's"
STYLE_SIZES = [OWN_SIZE, "256", "512", "1024", "2048"]


def _default_model(scale: int) -> str:
    from restore.zoo import default_model

    return default_model(scale)


def _model_dropdown_for(scale: int) -> gr.Dropdown:
    return gr.Dropdown(choices=handlers.model_choices(int(scale)), value=_default_model(int(scale)))


def _limits_line(config: AppConfig) -> str:
    jobs = "one job at a time" if config.concurrency == 1 else f"{config.concurrency} jobs at a time"
    return (f"Images up to {handlers.megapixels(config.max_pixels)}, uploads up to {config.max_file_size}; "
            f"{jobs}, the rest wait in the queue.")


def _upscale_tab(config: AppConfig) -> None:
    with gr.Row():
        with gr.Column(scale=1):
            source = guard_uploads(gr.File(label="Image (PNG, JPEG, WebP, TIFF; 16-bit and alpha are kept)",
                                           file_types=IMAGE_TYPES, type="filepath", elem_id="upscale-input"),
                                   shipped=(EXAMPLES_DIR,))
            thumbnail = gr.Image(label="Your image", type="numpy", format="png", interactive=False, height=180,
                                 buttons=[], elem_id="upscale-thumbnail")
            scale = gr.Radio(SCALES, value=4, label="Scale", elem_id="upscale-scale")
            model = gr.Dropdown(choices=handlers.model_choices(4), value=_default_model(4),
                                label="Model (card PSNR)", elem_id="upscale-model")
            with gr.Accordion("Options", open=False):
                tile = gr.Dropdown(TILE_CHOICES, value="auto", label="Tile (input pixels; auto fits free memory)")
                ensemble = gr.Checkbox(value=False, label="Self-ensemble (8 flips, 8x slower, slightly sharper)")
                precision = gr.Radio(PRECISIONS, value="auto", label="Precision")
            run = gr.Button("Upscale", variant="primary", elem_id="upscale-run")
            samples = examples("upscale")
            if samples:
                gr.Examples([[str(sample.path)] for sample in samples], inputs=[source], label="Or try an example",
                            elem_id="upscale-examples")
        with gr.Column(scale=2):
            with gr.Row():
                slider = gr.ImageSlider(label="Before (bicubic) / after (model), whole image", type="numpy",
                                        format="png", interactive=False, max_height=440, elem_id="upscale-slider")
                # At x4 the whole image is shrunk to fit; this window is shown from full-resolution pixels.
                crop = gr.ImageSlider(label=f"Zoom: the most detailed {CROP_SIDE}×{CROP_SIDE} output pixels",
                                      type="numpy", format="png", interactive=False, max_height=440,
                                      elem_id="upscale-crop")
            status = gr.Markdown(elem_id="upscale-status")
            download = gr.File(label="Full-resolution result (the input's format, bit depth and alpha)",
                               interactive=False, elem_id="upscale-download")

    def upscale(path: str | None, name: str, factor: int, tile_choice: str, self_ensemble: bool,
                precision_choice: str) -> tuple[tuple[Any, Any], str, str]:
        result = handlers.upscale_image(path, name, int(factor), tile=tile_choice, self_ensemble=self_ensemble,
                                        precision=precision_choice, config=config)
        return (result.before, result.after), result.summary, str(result.output_path)

    def zoom(path: str | None, output_path: str | None, factor: int) -> Any:
        """The 100 % crop, from the input and the full-resolution result the upscale just wrote."""
        from restore.io import load

        if not path or not output_path:
            return None
        output = load(output_path, max_pixels=None).pixels
        return full_size_crops(load(path, max_pixels=config.max_pixels).pixels, output, int(factor))

    def preview(path: str | None) -> Any:
        return thumbnail_of(path, config.max_pixels)

    source.change(preview, inputs=source, outputs=thumbnail, api_name=False)
    scale.change(_model_dropdown_for, inputs=scale, outputs=model, api_name=False)
    # The zoom follows as a second step, so the "upscale" API keeps its three outputs.
    run.click(shown_in_page(upscale), inputs=[source, model, scale, tile, ensemble, precision],
              outputs=[slider, status, download], api_name="upscale").success(
        shown_in_page(zoom), inputs=[source, download, scale], outputs=crop, api_name=False)


def _example_gallery(role: str, label: str, elem_id: str) -> tuple[gr.Gallery | None, list[str]]:
    samples = examples(role)
    if not samples:
        return None, []
    gallery = gr.Gallery([(str(sample.path), sample.caption) for sample in samples], label=label, columns=5,
                         height=130, allow_preview=False, interactive=False, object_fit="cover", fit_columns=False,
                         elem_id=elem_id)
    return gallery, [str(sample.path) for sample in samples]


def _size_value(choice: str) -> int | None:
    return None if choice == OWN_SIZE else int(choice)


def _style_tab(config: AppConfig) -> None:
    from restore.style.optimize import DEFAULT_ITERATIONS

    gr.Markdown(handlers.style_model_notice(config.style_model), elem_id="style-notice")
    with gr.Row():
        with gr.Column(scale=1):
            with gr.Row():
                content = guard_uploads(gr.File(label="Content image", file_types=IMAGE_TYPES, type="filepath",
                                                height=120, elem_id="style-content"), shipped=(EXAMPLES_DIR,))
                styles = guard_uploads(gr.File(label="Style image(s), mixed equally", file_types=IMAGE_TYPES,
                                               file_count="multiple", type="filepath", height=120,
                                               elem_id="style-styles"), shipped=(EXAMPLES_DIR,))
            with gr.Row():
                method = gr.Radio([("sanet (trained network, seconds)", "sanet"),
                                   ("optimize (pixel optimisation, minutes)", "optimize")], value="sanet",
                                  label="Method", scale=2, elem_id="style-method")
                size = gr.Dropdown(STYLE_SIZES, value=OWN_SIZE, label="Long side", scale=1, elem_id="style-size")
            with gr.Row():
                alpha = gr.Slider(0.0, 1.0, value=1.0, step=0.05, label="Alpha (sanet; 0: the content, 1: fully "
                                  "stylized)", scale=2)
                keep_colours = gr.Checkbox(value=False, label="Keep the content's colours", scale=1)
                painting_colours = gr.Checkbox(value=True, label="Take the painting's colours (sanet)", scale=1,
                                               elem_id="style-painting-colours")
            with gr.Accordion("Optimize: L-BFGS iterations", open=False):
                with gr.Row():
                    first = gr.Slider(10, 400, value=DEFAULT_ITERATIONS[0], step=10, label="At 128 px",
                                      elem_id="style-first-iterations")
                    finer = gr.Slider(5, 200, value=DEFAULT_ITERATIONS[1], step=5, label="At each finer scale",
                                      elem_id="style-finer-iterations")
            run = gr.Button("Stylize", variant="primary", elem_id="style-run")
            estimate = gr.Markdown(handlers.style_estimate(None, None, config=config), elem_id="style-estimate")
            # Clicking a thumbnail fills the input above it: public-domain paintings and CC0 photos
            # (restore/app/examples/MANIFEST.tsv says where each comes from).
            photos, photo_paths = _example_gallery("content", "Example photos (click to use)", "style-example-photos")
            paintings, painting_paths = _example_gallery("style", "Example paintings (click to use)",
                                                         "style-example-paintings")
        with gr.Column(scale=1):
            image = gr.Image(label="Result, with the painting beside it", type="numpy", format="png",
                             interactive=False, height=420, elem_id="style-result")
            status = gr.Markdown(elem_id="style-status")
            download = gr.File(label="Result alone (PNG)", interactive=False, elem_id="style-download")

    def estimated(content_path: str | None, style_paths: list[str] | None, method_choice: str, size_choice: str,
                  strength: float, first_iterations: float, finer_iterations: float) -> str:
        return handlers.style_estimate(content_path, style_paths, method_choice, _size_value(size_choice), strength,
                                       (int(first_iterations), int(finer_iterations)), config=config)

    def stylize(content_path: str | None, style_paths: list[str] | None, strength: float, preserve_color: bool,
                method_choice: str, size_choice: str, first_iterations: float, finer_iterations: float,
                take_painting_colours: bool = True, progress: gr.Progress = gr.Progress()) -> tuple[Any, str, str]:
        def optimizing(done: int, total: int) -> None:
            progress(min(1.0, done / total), desc=f"optimize: {done} of at most {total} loss evaluations")

        result = handlers.stylize_image(content_path, style_paths, strength, preserve_color, method=method_choice,
                                        size=_size_value(size_choice),
                                        iterations=(int(first_iterations), int(finer_iterations)),
                                        palette="painting" if take_painting_colours else "network", config=config,
                                        progress=optimizing)
        return result.preview, result.summary, str(result.output_path)

    def pick_photo(event: gr.SelectData) -> str:
        return photo_paths[event.index]

    def pick_painting(event: gr.SelectData) -> list[str]:
        return [painting_paths[event.index]]

    if photos is not None:
        photos.select(pick_photo, outputs=content, api_name=False)
    if paintings is not None:
        paintings.select(pick_painting, outputs=styles, api_name=False)
    settings = [content, styles, method, size, alpha, first, finer]
    gr.on([field.change for field in settings], shown_in_page(estimated), inputs=settings, outputs=estimate,
          api_name="style_estimate", concurrency_limit=None)
    run.click(shown_in_page(stylize), inputs=[content, styles, alpha, keep_colours, method, size, first, finer,
                                                      painting_colours],
              outputs=[image, status, download], api_name="stylize")


def _benchmark_tab(config: AppConfig) -> None:
    present = handlers.benchmark_datasets(config.data_root)
    note = ("Scores a model under the papers' protocol (Y-channel PSNR / SSIM, border = scale, MATLAB bicubic LR) "
            "on a set found under the data root.")
    if not present:
        note += " **No benchmark set is present**: `restore datasets` says where each one goes."
    gr.Markdown(note)
    with gr.Row():
        scale = gr.Radio(SCALES, value=4, label="Scale", elem_id="bench-scale")
        model = gr.Dropdown(choices=handlers.model_choices(4), value=_default_model(4), label="Model",
                            elem_id="bench-model")
        dataset = gr.Dropdown(choices=present, value=present[0] if present else None, label="Dataset",
                              elem_id="bench-dataset")
    run = gr.Button("Run benchmark", variant="primary", elem_id="bench-run")
    summary = gr.Markdown(elem_id="bench-summary")
    # The chart takes the page's width: beside the table it was too small to read.
    chart = gr.Image(type="filepath", label="PSNR against parameters and time", interactive=False,
                     elem_id="bench-chart")
    table = gr.Dataframe(headers=["image", "PSNR (dB)", "SSIM", "seconds"], interactive=False,
                         label="Per image", elem_id="bench-table")
    files = gr.File(label="Report (summary.md, results.json, images.csv, chart)", file_count="multiple",
                    interactive=False, elem_id="bench-files")

    def benchmark(name: str, factor: int, set_name: str | None) -> tuple[Any, str, str, list[str]]:
        result = handlers.run_benchmark_job(name, int(factor), set_name, config=config)
        frame = gr.Dataframe(value=result.rows, headers=result.columns)
        report = sorted(str(path) for path in Path(result.report_dir).iterdir())
        return frame, str(result.chart_path), result.summary, report

    scale.change(_model_dropdown_for, inputs=scale, outputs=model, api_name=False)
    run.click(shown_in_page(benchmark), inputs=[model, scale, dataset], outputs=[table, chart, summary, files],
              api_name="benchmark")


def _models_tab(demo: gr.Blocks) -> None:
    table = gr.Markdown("Loading the zoo…", elem_id="models-table")
    # Counting every architecture's parameters imports torch and builds each network on the meta device:
    # seconds, so it runs after the page is up, not while the app starts.
    demo.load(shown_in_page(handlers.models_markdown), outputs=table, api_name="models", concurrency_limit=None)


def build_app(config: AppConfig | None = None) -> gr.Blocks:
    """The Blocks with its queue set up (``config.concurrency`` jobs at once); launch it or mount it."""
    config = config or AppConfig.from_env()
    with GuardedBlocks(title="restore: super-resolution and style transfer", analytics_enabled=False) as demo:
        gr.Markdown("# restore\nSuper-resolution (RCAN, RDN, RNAN, SAN and our trained models) and SANet style "
                    f"transfer. {_limits_line(config)}")
        with gr.Tabs():
            with gr.Tab("Upscale", id="upscale", elem_id="tab-upscale"):
                _upscale_tab(config)
            with gr.Tab("Style transfer", id="style", elem_id="tab-style"):
                _style_tab(config)
            with gr.Tab("Benchmark", id="benchmark", elem_id="tab-benchmark"):
                _benchmark_tab(config)
            with gr.Tab("Models", id="models", elem_id="tab-models"):
                _models_tab(demo)
    demo.queue(default_concurrency_limit=config.concurrency, max_size=32)
    return demo
