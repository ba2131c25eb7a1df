import asyncio
import contextlib

from django.core.management.base import BaseCommand, CommandError

from runs.fake_server import add_config_arguments, config_from_options, serve


class Command(BaseCommand):
    help = (
        "Serve a fake OpenAI and Anthropic API on 127.0.0.1 until interrupted, for "
        "benchmarks and for trying the product offline. Every FakeConfig field is an option."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--host", default="127.0.0.1", help="Address to listen on.")
        parser.add_argument("--port", type=int, default=8765, help="Port to listen on.")
        add_config_arguments(parser)

    def handle(self, *args, **options) -> None:
        try:
            # A server left running would otherwise keep every request in memory.
            config = config_from_options(options, record_requests=False)
        except ValueError as error:
            raise CommandError(str(error)) from error
        announce = self.stdout.write
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(serve(config, options["host"], options["port"], announce))
