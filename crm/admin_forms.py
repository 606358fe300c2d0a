"""Plain forms on back-office pages (member actions, imports, decisions) drawn by the theme.

A ModelAdmin's forms get django-unfold's widgets from the ModelAdmin; a `forms.Form` on a custom
admin view does not, and the theme's CSS reset leaves its inputs without borders. `ThemedForm`
swaps each field's widget for the theme's equivalent, keeping its attributes and choices.
"""

from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
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

    def get_context(self, name: str, value: Any, attrs: dict[str, Any] | None) -> dict[str, Any]:
        context = super().get_context(name, value, attrs)
        # Set again when drawn: unfold's ModelAdmin.formfield_for_manytomany overwrites the class of
        # every SelectMultiple with its plain select's, and select2.init.js finds its elements by
        # this class — without it the picker silently stayed a bare multi-select (a many-to-many
        # field of a ModelAdmin's form, e.g. a coupon template's stores).
        context["widget"]["attrs"]["class"] = "unfold-admin-autocomplete"
        return context

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


# --- approval queues (points adjustments, coupons issued by hand) ---------------------------------


class QueueStatusFilter(admin.SimpleListFilter):
    """Status, with 待审批 chosen when none is: a queue page is a queue first, a history second.
    A queue subclasses it with its model's `statuses` (TextChoices with a PENDING member)."""

    title = "状态"
    parameter_name = "status"
    ALL = "all"
    statuses: Any  # the queue model's Status (TextChoices)

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [*self.statuses.choices, (self.ALL, "全部")]

    def _chosen(self) -> str:
        return self.value() or self.statuses.PENDING

    def choices(self, changelist: Any) -> Any:
        for value, label in self.lookup_choices:
            yield {
                "selected": self._chosen() == str(value),
                "query_string": changelist.get_query_string({self.parameter_name: value}),
                "display": label,
            }

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        chosen = self._chosen()
        return queryset if chosen == self.ALL else queryset.filter(status=chosen)


class DecideForm(ThemedForm):
    """The approve / reject page of an approval queue."""

    note = forms.CharField(
        label="审批意见",
        max_length=255,
        required=False,
        widget=forms.TextInput(attrs={"size": 60}),
        help_text="批准时可不填；驳回必须填写原因，申请人可以看到。",
    )
