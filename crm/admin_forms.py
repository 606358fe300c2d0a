"""Plain forms on back-office pages (member actions, imports, decisions) drawn by the theme.

A ModelAdmin's forms get django-unfold's widgets from the ModelAdmin; a `forms.Form` on a custom
admin view does not, and the theme's CSS reset leaves its inputs without borders. `ThemedForm`
swaps each field's widget for the theme's equivalent, keeping its attributes and choices.
"""

from typing import Any

from django import forms
from django.conf import settings
from unfold import widgets as themed

_THEMED: list[tuple[type[forms.Widget], type[forms.Widget]]] = [
    # Most specific first: the checks are isinstance.
    (forms.CheckboxSelectMultiple, themed.UnfoldAdminCheckboxSelectMultiple),
    (forms.RadioSelect, themed.UnfoldAdminRadioSelectWidget),
    (forms.SelectMultiple, themed.UnfoldAdminSelectMultipleWidget),
    (forms.NullBooleanSelect, themed.UnfoldAdminNullBooleanSelectWidget),
    (forms.Select, themed.UnfoldAdminSelectWidget),
    (forms.CheckboxInput, themed.UnfoldBooleanWidget),
    (forms.Textarea, themed.UnfoldAdminTextareaWidget),
    (forms.ClearableFileInput, themed.UnfoldAdminFileFieldWidget),
    (forms.FileInput, themed.UnfoldAdminFileFieldWidget),
    (forms.DateInput, themed.UnfoldAdminSingleDateWidget),
    (forms.EmailInput, themed.UnfoldAdminEmailInputWidget),
    (forms.PasswordInput, themed.UnfoldAdminPasswordWidget),
    (forms.NumberInput, themed.UnfoldAdminIntegerFieldWidget),
    (forms.HiddenInput, forms.HiddenInput),
    (forms.TextInput, themed.UnfoldAdminTextInputWidget),
]


def themed_widget(widget: forms.Widget) -> forms.Widget:
    for plain, theme in _THEMED:
        if isinstance(widget, plain):
            if theme is plain or isinstance(widget, theme):
                return widget
            new: Any = theme()
            new.attrs = {
                **new.attrs,
                **widget.attrs,
                "class": " ".join(filter(None, [new.attrs.get("class", ""), widget.attrs.get("class", "")])),
            }
            if hasattr(widget, "choices"):
                new.choices = widget.choices
            if hasattr(widget, "input_type") and plain is forms.NumberInput:
                new.input_type = widget.input_type
            new.is_required = widget.is_required
            return new
    return widget


class ThemedForm(forms.Form):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            field.widget = themed_widget(field.widget)


class ChinesePicker(themed.UnfoldAdminSelect2MultipleWidget):
    """A searchable multi-picker (select2) speaking Chinese: type to filter, click to add, × to
    remove. Replaces Django's two-box filter_horizontal, whose texts stay English on unfold."""

    def __init__(self, attrs: dict[str, Any] | None = None, choices: Any = ()) -> None:
        shown = {"data-language": "zh-CN", "data-placeholder": "不限（点击选择，可输入筛选）"}
        super().__init__({**shown, **(attrs or {})}, choices)
        # Not "admin-autocomplete": Django's autocomplete.js would claim it and expect an AJAX source.
        self.attrs["class"] = "unfold-admin-autocomplete"

    @property
    def media(self) -> forms.Media:
        extra = "" if settings.DEBUG else ".min"
        return forms.Media(
            js=(
                f"admin/js/vendor/jquery/jquery{extra}.js",
                "admin/js/vendor/select2/select2.full.js",
                # The language file registers on the global jQuery, before jquery.init hides it.
                "admin/js/vendor/select2/i18n/zh-CN.js",
                "admin/js/jquery.init.js",
                "unfold/js/select2.init.js",
            ),
            css={"screen": ("admin/css/vendor/select2/select2.css", "admin/css/autocomplete.css")},
        )
