"""Every setting the services read, by environment variable, so tests can check that the files
that set them (.env.example, compose, Kubernetes ConfigMaps and Secrets) name only real settings
and keep the secret ones out of plain configuration."""

from __future__ import annotations

import contextlib
import importlib
import pkgutil
import types
import typing

from pydantic import SecretStr
from pydantic_settings import BaseSettings

import services
import shared.config


def settings_classes() -> list[type[BaseSettings]]:
    """Every settings class: shared/config.py and each service's `settings.py`."""
    modules: list[types.ModuleType] = [shared.config]
    for service in pkgutil.iter_modules(services.__path__):
        with contextlib.suppress(ModuleNotFoundError):
            modules.append(importlib.import_module(f"services.{service.name}.settings"))
    return [
        value
        for module in modules
        for value in vars(module).values()
        if isinstance(value, type)
        and issubclass(value, BaseSettings)
        and value.__module__ == module.__name__
        and "env_prefix" in value.model_config
    ]


def setting_variables() -> dict[str, bool]:
    """Each setting's environment variable, mapped to whether its value is a secret."""
    return {
        f"{cls.model_config['env_prefix']}{name}".upper(): _is_secret(field.annotation)
        for cls in settings_classes()
        for name, field in cls.model_fields.items()
    }


def _is_secret(annotation: object) -> bool:
    return annotation is SecretStr or SecretStr in typing.get_args(annotation)
